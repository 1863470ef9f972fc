package dev.sluice.governor;

import dev.sluice.api.cache.CacheStore;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Provider keys that answered 429, and until when nobody should call them: the one cooldown path of the
 * {@link Governor} and of the gateway. A cooldown is kept in this instance and published to a {@link CacheStore}
 * (Redis, Hazelcast or memory) under the caller's key (which must name no secret, e.g.
 * {@code <namespace>:cooldown:<model>:<key id>}), so every instance on the same store honours it; an instance learns
 * of another's cooldown on its next {@link #remainingMillisAsync} of that key, or on a {@link #refresh}.
 *
 * <p>A store that fails never fails a call: the local cooldown holds, and other instances learn of it from their own
 * 429. Wall-clock milliseconds, since instances share them.
 */
public final class SharedCooldowns {

    private static final Logger LOG = Logger.getLogger(SharedCooldowns.class.getName());

    private final @Nullable CacheStore store;
    private final LongSupplier clock;
    /** Local view: key → until (epoch ms). Bounded by the provider keys a process uses; entries past expire are dropped. */
    private final Map<String, Long> until = new ConcurrentHashMap<>();

    /** Cooldowns shared through {@code store}, or kept in this instance only if it is null. */
    public SharedCooldowns(@Nullable CacheStore store) {
        this(store, System::currentTimeMillis);
    }

    SharedCooldowns(@Nullable CacheStore store, LongSupplier clock) {
        this.store = store;
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /** Milliseconds until {@code key} may be called again as this instance knows it, without I/O; 0 if now. */
    public long remainingMillis(String key) {
        Long u = until.get(key);
        if (u == null) {
            return 0;
        }
        long left = u - clock.getAsLong();
        if (left <= 0) {
            until.remove(key, u);
            return 0;
        }
        return left;
    }

    /**
     * As {@link #remainingMillis}, and when this instance knows of no cooldown, what the store says (another
     * instance's). Never fails: a store error reads as no cooldown.
     */
    public CompletableFuture<Long> remainingMillisAsync(String key) {
        long local = remainingMillis(key);
        CacheStore s = store;
        if (local > 0 || s == null) {
            return CompletableFuture.completedFuture(local);
        }
        try {
            return s.getAsync(key).handle((v, e) -> e != null ? 0L : learn(key, v)).toCompletableFuture();
        } catch (RuntimeException e) {
            return CompletableFuture.completedFuture(0L);
        }
    }

    /**
     * Reads the published cooldowns of {@code keys} into this instance, so {@link #remainingMillis} sees them.
     * Blocks on the store: not for an event loop. Stops at the first store error, keeping what it knows.
     */
    public void refresh(Iterable<String> keys) {
        CacheStore s = store;
        if (s == null) {
            return;
        }
        for (String key : keys) {
            try {
                learn(key, s.get(key));
            } catch (RuntimeException e) {
                return;
            }
        }
    }

    /**
     * Cools {@code key} down for {@code wait} (at least 1 ms) here and, through the store, for every instance; a
     * longer cooldown already in place stays.
     *
     * @return the end of the cooldown, epoch milliseconds
     */
    public long coolDown(String key, Duration wait) {
        long ms = Math.max(1, (wait.toNanos() + 999_999) / 1_000_000);
        long end = clock.getAsLong() + ms;
        until.merge(key, end, Math::max);
        CacheStore s = store;
        if (s != null) {
            byte[] v = ByteBuffer.allocate(8).putLong(end).array();
            try {
                s.putAsync(key, v, Duration.ofMillis(ms)).exceptionally(e -> {
                    LOG.log(Level.WARNING, "could not share a cooldown: " + e);
                    return null;
                });
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "could not share a cooldown: " + e);
            }
        }
        return end;
    }

    private long learn(String key, byte @Nullable [] v) {
        if (v == null || v.length != 8) {
            return remainingMillis(key);
        }
        long end = ByteBuffer.wrap(v).getLong();
        if (end > clock.getAsLong()) {
            until.merge(key, end, Math::max);
        }
        return remainingMillis(key);
    }

    /**
     * How long a key cools down after a retryable 429 that said {@code signal}: its {@code Retry-After}; else the
     * reset of the limit it names (tokens or requests); else the longer of the two resets; else {@code dflt}.
     */
    public static Duration waitOf(ProviderSignal signal, Duration dflt) {
        Duration d = signal.retryAfter();
        if (positive(d)) {
            return d;
        }
        d = switch (signal.kind()) {
            case TOKENS -> signal.resetTokens();
            case REQUESTS -> signal.resetRequests();
            default -> null;
        };
        if (positive(d)) {
            return d;
        }
        Duration r = signal.resetRequests();
        Duration t = signal.resetTokens();
        d = r == null ? t : t == null || r.compareTo(t) >= 0 ? r : t;
        return positive(d) ? d : dflt;
    }

    /**
     * Exponential backoff with full jitter for retry {@code attempt} (1 for the first retry): a uniform draw in
     * {@code [0, min(cap, base × 2^(attempt-1))]}, in microseconds.
     */
    public static long backoffMicros(int attempt, Duration base, Duration cap) {
        long capMicros = cap.toNanos() / 1000;
        long exp = Math.min(capMicros, (base.toNanos() / 1000) << Math.min(20, Math.max(0, attempt - 1)));
        return ThreadLocalRandom.current().nextLong(Math.max(0, exp) + 1);
    }

    private static boolean positive(@Nullable Duration d) {
        return d != null && !d.isNegative() && !d.isZero();
    }
}

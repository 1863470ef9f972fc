package dev.sluice.gateway.internal;

import dev.sluice.api.cache.CacheStore;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Provider keys that answered 429, and until when nobody should call them. A cooldown is published to the shared
 * {@link CacheStore} (Redis, Hazelcast, or memory) so every gateway instance honours it; each instance reads the
 * published cooldowns of its pool keys back periodically ({@link #refresh}), so a 429 seen by one instance stops the
 * others within one refresh interval. Keys are {@code cooldown:<provider>:<keyId>}: no secret.
 */
public final class Cooldowns {

    private final CacheStore store;
    private final Map<String, Long> untilMillis = new ConcurrentHashMap<>();

    /** Cooldowns shared through {@code store}. */
    public Cooldowns(CacheStore store) {
        this.store = store;
    }

    private static String key(Routes.PoolKey k) {
        return "cooldown:" + k.provider() + ":" + k.id();
    }

    /** Milliseconds until {@code k} may be called again; zero or less if now. */
    public long remainingMillis(Routes.PoolKey k, long nowMillis) {
        Long u = untilMillis.get(key(k));
        return u == null ? 0 : u - nowMillis;
    }

    /** Cools {@code k} down for {@code wait}, here and for every instance. */
    public void coolDown(Routes.PoolKey k, Duration wait, long nowMillis) {
        long until = nowMillis + Math.max(1, wait.toMillis());
        untilMillis.merge(key(k), until, Math::max);
        byte[] v = ByteBuffer.allocate(8).putLong(until).array();
        try {
            store.putAsync(key(k), v, Duration.ofMillis(Math.max(1, wait.toMillis())));
        } catch (RuntimeException e) {
            // the local cooldown holds; others learn of it from their own 429
        }
    }

    /** Reads the shared cooldowns of {@code keys} into this instance. Blocking on some stores: not on an event loop. */
    public void refresh(Iterable<Routes.PoolKey> keys) {
        for (Routes.PoolKey k : keys) {
            try {
                byte[] v = store.get(key(k));
                if (v != null && v.length == 8) {
                    untilMillis.merge(key(k), ByteBuffer.wrap(v).getLong(), Math::max);
                }
            } catch (RuntimeException e) {
                return; // the store is down: keep what we know
            }
        }
    }
}

package dev.sluice.gateway.internal;

import dev.sluice.api.cache.CacheStore;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which pool key made a stored response of the Responses API. A provider keeps a response in the project of the key
 * that made it: a call chaining to it ({@code previous_response_id}) or reading it ({@code /v1/responses/{id}}) made
 * with another key of the pool, from another project, gets a 404. Remembered in the backend's cache store, so every
 * instance on a shared store sees it, per tenant (a tenant's lookups never find another tenant's responses; access
 * control only with {@code upstream.responseIsolation}), for {@code upstream.responseAffinity}. Never fails: a store
 * error, or no answer within the backend's timeout, reads as not known.
 */
public final class ResponseAffinity {

    private static final Logger LOG = LoggerFactory.getLogger(ResponseAffinity.class);
    /** Longer ids are not remembered: no provider's are; a client's could be anything. */
    static final int MAX_ID_LENGTH = 256;

    private final CacheStore store;

    /** Remembers in {@code store}. */
    public ResponseAffinity(CacheStore store) {
        this.store = store;
    }

    /**
     * The key that made a response, if remembered: its provider and id; the tokens the response used (its input,
     * which held the context before it, and its output), 0 if not known yet: the context a call that chains to it
     * carries; and whether the key was found by probing the pool rather than seen making it for this tenant.
     */
    record Maker(String provider, String keyId, long tokens, boolean probed) {
    }

    /** What {@link #maker} gives when the store failed or did not answer in time: not known either way. */
    static final Maker UNANSWERED = new Maker("", "", 0, false);

    /**
     * Remembers for {@code ttl} (zero: not at all) that {@code key} made response {@code id} of {@code tenant}
     * (found by probing the pool: {@code probed}), and used {@code tokens} (0: not known yet). The future completes
     * once the store has it, or failed to take it (never exceptionally).
     */
    CompletableFuture<Void> remember(String tenant, String id, Routes.PoolKey key, long tokens, boolean probed,
            Duration ttl) {
        if (ttl.isZero() || id.isEmpty() || id.length() > MAX_ID_LENGTH) {
            return CompletableFuture.completedFuture(null);
        }
        byte[] value = (key.provider() + "\n" + key.id() + "\n" + Math.max(0, tokens) + (probed ? "\nprobed" : ""))
                .getBytes(StandardCharsets.UTF_8);
        try {
            return store.putAsync(storeKey(tenant, id), value, ttl).toCompletableFuture()
                    .handle((v, e) -> {
                        if (e != null) {
                            LOG.warn("could not remember which key made a response: {}",
                                    e.getClass().getSimpleName());
                        }
                        return (Void) null;
                    });
        } catch (RuntimeException e) {
            LOG.warn("could not remember which key made a response: {}", e.getClass().getSimpleName());
            return CompletableFuture.completedFuture(null);
        }
    }

    /**
     * The key that made response {@code id} of {@code tenant}; null if not remembered ({@code ttl} zero: at once);
     * {@link #UNANSWERED} if the store failed or did not answer within {@code wait}.
     */
    CompletableFuture<@Nullable Maker> maker(String tenant, String id, Duration ttl, Duration wait) {
        if (ttl.isZero() || id.isEmpty() || id.length() > MAX_ID_LENGTH) {
            return CompletableFuture.completedFuture(null);
        }
        try {
            CompletableFuture<@Nullable Maker> m = store.getAsync(storeKey(tenant, id))
                    .handle((v, e) -> e != null ? UNANSWERED : maker(v)).toCompletableFuture();
            return m.completeOnTimeout(UNANSWERED, Math.max(1, wait.toMillis()), TimeUnit.MILLISECONDS);
        } catch (RuntimeException e) {
            return CompletableFuture.completedFuture(UNANSWERED);
        }
    }

    private static @Nullable Maker maker(byte @Nullable [] v) {
        if (v == null) {
            return null;
        }
        String[] parts = new String(v, StandardCharsets.UTF_8).split("\n", -1);
        if (parts.length < 2) {
            return null;
        }
        long tokens = 0;
        if (parts.length > 2) {
            try {
                tokens = Math.max(0, Long.parseLong(parts[2]));
            } catch (NumberFormatException e) {
                // not a count: not known
            }
        }
        return new Maker(parts[0], parts[1], tokens, parts.length > 3 && parts[3].equals("probed"));
    }

    /** The tenant's name is length-prefixed: no tenant and id can make another pair's key. */
    private static String storeKey(String tenant, String id) {
        return "ra:" + tenant.length() + ":" + tenant + ":" + id;
    }
}

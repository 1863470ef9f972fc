package dev.sluice.api.cache;

import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.jspecify.annotations.Nullable;

/**
 * Bytes under a key, each entry with its own time to live. Thread-safe; shared between instances when the store is.
 *
 * <p>Keys are the caller's (already free of secrets); a store namespaces them and may hash them. A time to live must
 * be positive; an entry is never returned after it expired. Stores may evict earlier to stay within their bounds, so
 * a {@code get} may miss what was put.
 *
 * <p><b>Arguments</b>, checked the same way by every store ({@link StoreArguments}): a null key, value or time to
 * live throws {@link NullPointerException}; an empty key or a time to live that is zero or negative throws
 * {@link IllegalArgumentException}. Any other key is fine (braces, line breaks, any Unicode, 64 KB). Values are
 * copied in and out: changing an array after {@code put} or after {@code get} changes nothing stored. An empty value
 * is a value, not an absence.
 *
 * <p>The asynchronous forms exist for event-loop callers; their defaults run the blocking form on the calling thread,
 * and stores with a non-blocking client override them. They never throw: bad arguments and store failures complete
 * the returned stage exceptionally.
 */
public interface CacheStore {

    /** The value stored under {@code key}, or null if there is none or it expired. */
    byte @Nullable [] get(String key);

    /**
     * Stores {@code value} under {@code key} for {@code ttl}, replacing what was there.
     *
     * @throws IllegalArgumentException if {@code ttl} is not positive
     */
    void put(String key, byte[] value, Duration ttl);

    /**
     * Stores {@code value} under {@code key} for {@code ttl} only if no live entry is there, atomically.
     *
     * @return whether this call stored it
     * @throws IllegalArgumentException if {@code ttl} is not positive
     */
    boolean putIfAbsent(String key, byte[] value, Duration ttl);

    /** Removes the entry under {@code key}; returns whether one was live. */
    boolean remove(String key);

    /**
     * Removes the entry under {@code key} only if it is live and holds exactly {@code expected}: for releasing a
     * marker one put, without removing one that replaced it after it expired. The default reads and then removes, so
     * it is not atomic; the stores Sluice ships override it with an atomic compare-and-delete.
     *
     * @return whether this call removed it
     */
    default boolean removeIfEquals(String key, byte[] expected) {
        StoreArguments.value(expected);
        byte[] current = get(key);
        return current != null && Arrays.equals(current, expected) && remove(key);
    }

    /**
     * Gives the entry under {@code key} a new time to live of {@code ttl} only if it is live and holds exactly
     * {@code expected}: for renewing a marker one put, without replacing one that another put after it expired. The
     * default reads and then puts, so it is not atomic; the stores Sluice ships override it with an atomic
     * compare-and-expire.
     *
     * @return whether this call renewed it
     * @throws IllegalArgumentException if {@code ttl} is not positive
     */
    default boolean renewIfEquals(String key, byte[] expected, Duration ttl) {
        StoreArguments.value(expected);
        StoreArguments.ttlMillis(ttl);
        byte[] current = get(key);
        if (current == null || !Arrays.equals(current, expected)) {
            return false;
        }
        put(key, expected, ttl);
        return true;
    }

    /** {@link #get} without blocking the caller where the store can. */
    default CompletionStage<byte @Nullable []> getAsync(String key) {
        try {
            return CompletableFuture.completedFuture(get(key));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** {@link #put} without blocking the caller where the store can. */
    default CompletionStage<Void> putAsync(String key, byte[] value, Duration ttl) {
        try {
            put(key, value, ttl);
            return CompletableFuture.completedFuture(null);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** {@link #putIfAbsent} without blocking the caller where the store can. */
    default CompletionStage<Boolean> putIfAbsentAsync(String key, byte[] value, Duration ttl) {
        try {
            return CompletableFuture.completedFuture(putIfAbsent(key, value, ttl));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** {@link #remove} without blocking the caller where the store can. */
    default CompletionStage<Boolean> removeAsync(String key) {
        try {
            return CompletableFuture.completedFuture(remove(key));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** {@link #removeIfEquals} without blocking the caller where the store can. */
    default CompletionStage<Boolean> removeIfEqualsAsync(String key, byte[] expected) {
        try {
            return CompletableFuture.completedFuture(removeIfEquals(key, expected));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** {@link #renewIfEquals} without blocking the caller where the store can. */
    default CompletionStage<Boolean> renewIfEqualsAsync(String key, byte[] expected, Duration ttl) {
        try {
            return CompletableFuture.completedFuture(renewIfEquals(key, expected, ttl));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Entries this store dropped by itself so far (evicted to stay within its bound, or expired), or -1 if it cannot
     * tell cheaply (a shared server counts for all its clients).
     */
    default long evictions() {
        return -1;
    }

    /** Approximate bytes this store holds now, or -1 if it cannot tell cheaply. */
    default long bytes() {
        return -1;
    }
}

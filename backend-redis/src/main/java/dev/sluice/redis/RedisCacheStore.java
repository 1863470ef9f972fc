package dev.sluice.redis;

import dev.sluice.api.cache.CacheStore;
import dev.sluice.api.cache.StoreArguments;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;
import org.redisson.api.RBucket;
import org.redisson.api.RScript;
import org.redisson.api.RedissonClient;
import org.redisson.client.codec.ByteArrayCodec;

/**
 * A {@link CacheStore} in Redis, shared by every instance that uses the same Redis and namespace. Each operation is
 * one command: {@code GET}, {@code SET PX} ({@link #put}), {@code SET NX PX} ({@link #putIfAbsent}, atomic in Redis),
 * {@code DEL}, or one Lua call ({@link #removeIfEquals}, {@link #renewIfEquals}); the asynchronous forms use
 * Redisson's asynchronous API and never block the caller.
 *
 * <p><b>Keys</b>: {@code <namespace>:c:<hash>}, where the hash is {@link StoreArguments#hashed} of the caller's key
 * (43 characters). So no caller key, however long or odd, reaches Redis as it is: no hash tag can be injected, no key
 * grows beyond 60-odd bytes, and whatever a caller key contains is not readable from Redis. Each entry is one Redis
 * string with its own {@code PX} expiry; times to live are rounded up to whole milliseconds. Redis's own
 * {@code maxmemory} policy bounds the total (use {@code volatile-lru} or {@code allkeys-lru} for a cache).
 *
 * <p>Redis errors and timeouts propagate as Redisson's exceptions (or fail the returned stage): a cache layer decides
 * whether a failed lookup is a miss.
 */
public final class RedisCacheStore implements CacheStore, AutoCloseable {

    private static final Pattern NAMESPACE = Pattern.compile("[A-Za-z0-9_.:-]{1,64}");
    /** KEYS[1] the entry, ARGV[1] the expected bytes, ARGV[2] the new time to live in milliseconds. */
    private static final String RENEW_IF_EQUALS = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
            + "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

    private final RedissonClient client;
    private final String prefix;

    private RedisCacheStore(RedissonClient client, String namespace) {
        this.client = client;
        this.prefix = namespace + ":c:";
    }

    /** A builder on {@code client}, which stays the caller's to shut down. */
    public static Builder builder(RedissonClient client) {
        return new Builder(Objects.requireNonNull(client, "client"));
    }

    /** The Redis key under which {@code key} is stored. */
    public String redisKey(String key) {
        return prefix + StoreArguments.hashed(StoreArguments.key(key));
    }

    /** The arguments of {@link #RENEW_IF_EQUALS}, checked: the expected bytes and the time to live. */
    private static Object[] renewal(byte[] expected, Duration ttl) {
        StoreArguments.value(expected);
        byte[] millis = Long.toString(StoreArguments.ttlMillis(ttl)).getBytes(StandardCharsets.US_ASCII);
        return new Object[] {expected, millis};
    }

    private RBucket<byte[]> bucket(String key) {
        return client.getBucket(redisKey(key), ByteArrayCodec.INSTANCE);
    }

    @Override
    public byte @Nullable [] get(String key) {
        return bucket(key).get();
    }

    @Override
    public void put(String key, byte[] value, Duration ttl) {
        RBucket<byte[]> bucket = bucket(key);
        StoreArguments.value(value);
        bucket.set(value, Duration.ofMillis(StoreArguments.ttlMillis(ttl)));
    }

    @Override
    public boolean putIfAbsent(String key, byte[] value, Duration ttl) {
        RBucket<byte[]> bucket = bucket(key);
        StoreArguments.value(value);
        return bucket.setIfAbsent(value, Duration.ofMillis(StoreArguments.ttlMillis(ttl)));
    }

    @Override
    public boolean remove(String key) {
        return bucket(key).delete();
    }

    /** Atomic: Redisson's compare-and-set to nothing, one Lua call ({@code GET}, compare, {@code DEL}). */
    @Override
    public boolean removeIfEquals(String key, byte[] expected) {
        RBucket<byte[]> bucket = bucket(key);
        StoreArguments.value(expected);
        return bucket.compareAndSet(expected, null);
    }

    /** Atomic: one Lua call ({@code GET}, compare, {@code PEXPIRE}). */
    @Override
    public boolean renewIfEquals(String key, byte[] expected, Duration ttl) {
        String k = redisKey(key);
        Object[] args = renewal(expected, ttl);
        Boolean renewed = client.getScript(ByteArrayCodec.INSTANCE).eval(k, RScript.Mode.READ_WRITE, RENEW_IF_EQUALS,
                RScript.ReturnType.BOOLEAN, List.of(k), args);
        return Boolean.TRUE.equals(renewed);
    }

    @Override
    public CompletionStage<byte @Nullable []> getAsync(String key) {
        try {
            return bucket(key).getAsync();
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletionStage<Void> putAsync(String key, byte[] value, Duration ttl) {
        try {
            RBucket<byte[]> bucket = bucket(key);
            StoreArguments.value(value);
            return bucket.setAsync(value, Duration.ofMillis(StoreArguments.ttlMillis(ttl)));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletionStage<Boolean> putIfAbsentAsync(String key, byte[] value, Duration ttl) {
        try {
            RBucket<byte[]> bucket = bucket(key);
            StoreArguments.value(value);
            return bucket.setIfAbsentAsync(value, Duration.ofMillis(StoreArguments.ttlMillis(ttl)));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletionStage<Boolean> removeAsync(String key) {
        try {
            return bucket(key).deleteAsync();
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletionStage<Boolean> removeIfEqualsAsync(String key, byte[] expected) {
        try {
            RBucket<byte[]> bucket = bucket(key);
            StoreArguments.value(expected);
            return bucket.compareAndSetAsync(expected, null);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletionStage<Boolean> renewIfEqualsAsync(String key, byte[] expected, Duration ttl) {
        try {
            String k = redisKey(key);
            Object[] args = renewal(expected, ttl);
            return client.getScript(ByteArrayCodec.INSTANCE).evalAsync(k, RScript.Mode.READ_WRITE, RENEW_IF_EQUALS,
                    RScript.ReturnType.BOOLEAN, List.of(k), args);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** Nothing to release: the client is the caller's. */
    @Override
    public void close() {
    }

    /** Builds a {@link RedisCacheStore}. */
    public static final class Builder {
        private final RedissonClient client;
        private String namespace = "sluice";

        private Builder(RedissonClient client) {
            this.client = client;
        }

        /**
         * The prefix of every key (default {@code sluice}); stores with different namespaces never see each other.
         *
         * @throws IllegalArgumentException unless 1-64 characters of {@code [A-Za-z0-9_.:-]}
         */
        public Builder namespace(String namespace) {
            if (namespace == null || !NAMESPACE.matcher(namespace).matches()) {
                throw new IllegalArgumentException("namespace must be 1-64 characters of [A-Za-z0-9_.:-], was "
                        + namespace);
            }
            this.namespace = namespace;
            return this;
        }

        /** The store. */
        public RedisCacheStore build() {
            return new RedisCacheStore(client, namespace);
        }
    }
}

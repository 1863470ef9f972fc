package dev.sluice.hazelcast;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.api.cache.StoreArguments;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * A {@link CacheStore} in a Hazelcast {@link IMap}, shared by every member and client of the cluster. Each entry has
 * its own time to live ({@code IMap.set} / {@code putIfAbsent} with a TTL, in milliseconds rounded up);
 * {@code putIfAbsent} is atomic on the partition owner, and an expired entry counts as absent. Every asynchronous form
 * returns without waiting for the cluster: {@code getAsync}, {@code putAsync} and {@code removeAsync} use the map's
 * asynchronous operations; {@code IMap} has no asynchronous put-if-absent with a TTL nor compare-and-remove, so
 * {@code putIfAbsentAsync} and {@code removeIfEqualsAsync} submit a {@link CacheEntryProcessor} to the key's owner,
 * as do both forms of {@code renewIfEquals}.
 *
 * <p><b>Keys</b> in the map are {@link StoreArguments#hashed} caller keys (43 characters), so no caller key, however
 * long, is stored or replicated as it is. A bound on the map's size is the cluster's configuration (the map's
 * {@code EvictionConfig}), not this store's.
 */
public final class HazelcastCacheStore implements CacheStore, AutoCloseable {

    private static final Pattern MAP_NAME = Pattern.compile("[A-Za-z0-9_.:-]{1,64}");

    private final IMap<String, byte[]> map;

    private HazelcastCacheStore(IMap<String, byte[]> map) {
        this.map = map;
    }

    /** A builder on {@code hazelcast} (a member or a client), which stays the caller's to shut down. */
    public static Builder builder(HazelcastInstance hazelcast) {
        return new Builder(Objects.requireNonNull(hazelcast, "hazelcast"));
    }

    /** The map key under which {@code key} is stored. */
    public static String mapKey(String key) {
        return StoreArguments.hashed(StoreArguments.key(key));
    }

    /** The map entries are kept in. */
    public IMap<String, byte[]> map() {
        return map;
    }

    @Override
    public byte @Nullable [] get(String key) {
        return map.get(mapKey(key));
    }

    @Override
    public void put(String key, byte[] value, Duration ttl) {
        String k = mapKey(key);
        StoreArguments.value(value);
        map.set(k, value, StoreArguments.ttlMillis(ttl), TimeUnit.MILLISECONDS);
    }

    @Override
    public boolean putIfAbsent(String key, byte[] value, Duration ttl) {
        String k = mapKey(key);
        StoreArguments.value(value);
        return map.putIfAbsent(k, value, StoreArguments.ttlMillis(ttl), TimeUnit.MILLISECONDS) == null;
    }

    @Override
    public boolean remove(String key) {
        return map.remove(mapKey(key)) != null;
    }

    /** Atomic on the partition owner ({@code IMap.remove(key, value)} compares the serialized bytes). */
    @Override
    public boolean removeIfEquals(String key, byte[] expected) {
        String k = mapKey(key);
        StoreArguments.value(expected);
        return map.remove(k, expected);
    }

    /** Atomic on the partition owner: a {@link CacheEntryProcessor} compares the bytes and sets the new TTL. */
    @Override
    public boolean renewIfEquals(String key, byte[] expected, Duration ttl) {
        return Boolean.TRUE.equals(map.executeOnKey(mapKey(key),
                processor(CacheEntryProcessor.RENEW_IF_EQUALS, expected, StoreArguments.ttlMillis(ttl))));
    }

    /** The conditional write {@code op} of {@code bytes} (checked, copied) with {@code ttlMillis}. */
    private static CacheEntryProcessor processor(int op, byte[] bytes, long ttlMillis) {
        StoreArguments.value(bytes);
        return new CacheEntryProcessor(op, bytes.clone(), ttlMillis);
    }

    /** {@code op} run on {@code key}'s owner without blocking the caller; argument errors fail the stage. */
    private CompletionStage<Boolean> submit(String key, int op, byte[] bytes, @Nullable Duration ttl) {
        try {
            String k = mapKey(key);
            return map.submitToKey(k, processor(op, bytes, ttl == null ? 0 : StoreArguments.ttlMillis(ttl)));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletionStage<byte @Nullable []> getAsync(String key) {
        try {
            return map.getAsync(mapKey(key));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletionStage<Void> putAsync(String key, byte[] value, Duration ttl) {
        try {
            String k = mapKey(key);
            StoreArguments.value(value);
            return map.setAsync(k, value, StoreArguments.ttlMillis(ttl), TimeUnit.MILLISECONDS);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletionStage<Boolean> removeAsync(String key) {
        try {
            return map.removeAsync(mapKey(key)).thenApply(Objects::nonNull);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletionStage<Boolean> putIfAbsentAsync(String key, byte[] value, Duration ttl) {
        return submit(key, CacheEntryProcessor.PUT_IF_ABSENT, value, ttl);
    }

    @Override
    public CompletionStage<Boolean> removeIfEqualsAsync(String key, byte[] expected) {
        return submit(key, CacheEntryProcessor.REMOVE_IF_EQUALS, expected, null);
    }

    @Override
    public CompletionStage<Boolean> renewIfEqualsAsync(String key, byte[] expected, Duration ttl) {
        return submit(key, CacheEntryProcessor.RENEW_IF_EQUALS, expected, ttl);
    }

    /** Nothing to release: the instance is the caller's, the entries the cluster's. */
    @Override
    public void close() {
    }

    /** Builds a {@link HazelcastCacheStore}. */
    public static final class Builder {
        private final HazelcastInstance hazelcast;
        private String mapName = "sluice-cache";

        private Builder(HazelcastInstance hazelcast) {
            this.hazelcast = hazelcast;
        }

        /**
         * The map that holds the entries (default {@code sluice-cache}); stores on different maps never see each other.
         *
         * @throws IllegalArgumentException unless 1-64 characters of {@code [A-Za-z0-9_.:-]}
         */
        public Builder mapName(String mapName) {
            if (mapName == null || !MAP_NAME.matcher(mapName).matches()) {
                throw new IllegalArgumentException("mapName must be 1-64 characters of [A-Za-z0-9_.:-], was "
                        + mapName);
            }
            this.mapName = mapName;
            return this;
        }

        /** The store. */
        public HazelcastCacheStore build() {
            return new HazelcastCacheStore(hazelcast.getMap(mapName));
        }
    }
}

package dev.sluice.hazelcast;

import com.hazelcast.config.SerializationConfig;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;
import dev.sluice.api.Ticker;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.bucket4j.Bucket4jPolicies;
import io.github.bucket4j.Bucket;
import io.github.bucket4j.distributed.ExpirationAfterWriteStrategy;
import io.github.bucket4j.grid.hazelcast.Bucket4jHazelcast;
import io.github.bucket4j.grid.hazelcast.HazelcastProxyManager;
import java.time.Duration;
import java.util.Objects;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Runs {@link Algorithm#TOKEN_BUCKET} policies on Bucket4j's Hazelcast integration ({@code bucket4j_jdk17-hazelcast}),
 * for users who already trust Bucket4j; {@link HazelcastBackend} is the native engine. Each limit is one Bucket4j
 * bucket, an entry of the map updated by Bucket4j's own entry processor on its partition owner.
 *
 * <p>Every member and client must register Bucket4j's serializers before it starts:
 * {@code Bucket4jHazelcastBackend.registerSerializers(config.getSerializationConfig())}; members also need
 * {@code bucket4j_jdk17-core} and {@code bucket4j_jdk17-hazelcast} on their classpath.
 *
 * <p>How it differs from {@link HazelcastBackend}: a policy of several limits is one entry processor call per limit
 * and is charged limit by limit with a give-back on refusal (see {@link Bucket4jPolicies}); time is the caller's
 * wall clock (in microseconds; or the given ticker), not the member's; a limit whose numbers change starts with a fresh bucket (its key
 * includes them); entries expire once their bucket could have refilled, plus a second; a cluster failure propagates
 * as Hazelcast's exception (there is no failure policy here).
 */
public final class Bucket4jHazelcastBackend implements LimiterBackend {

    /** The first of the type ids Bucket4j's serializers take (Bucket4j uses a few consecutive ids from it). */
    public static final int SERIALIZER_TYPE_ID_BASE = 20_000;

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.:-]{1,128}");

    private final IMap<String, byte[]> map;
    private final HazelcastProxyManager<String> buckets;

    private Bucket4jHazelcastBackend(HazelcastInstance instance, String mapName, @Nullable Ticker ticker) {
        this.map = instance.getMap(mapName);
        Bucket4jHazelcast.HazelcastProxyManagerBuilder<String> b = Bucket4jHazelcast.entryProcessorBasedBuilder(map)
                .expirationAfterWrite(ExpirationAfterWriteStrategy.basedOnTimeForRefillingBucketUpToMax(
                        Duration.ofSeconds(1)));
        // Bucket4j's distributed buckets insist on epoch time; Sluice tickers count from the epoch. Without a client
        // clock Bucket4j would read the owner member's millisecond clock.
        b.clientClock(ticker != null ? Bucket4jPolicies.timeMeter(ticker, true) : Bucket4jPolicies.wallClock());
        this.buckets = b.build();
    }

    /**
     * Registers Bucket4j's Hazelcast serializers in {@code config} (a member's or a client's), at
     * {@link #SERIALIZER_TYPE_ID_BASE}. Call it before the instance starts, on every member and client.
     */
    public static void registerSerializers(SerializationConfig config) {
        HazelcastProxyManager.addCustomSerializers(Objects.requireNonNull(config, "config"), SERIALIZER_TYPE_ID_BASE);
    }

    /**
     * A backend on {@code instance} (a member or a client) keeping its buckets in the map {@code mapName}, on the
     * caller's clock.
     *
     * @throws IllegalArgumentException unless the name is 1-128 characters of {@code [A-Za-z0-9_.:-]}
     */
    public static Bucket4jHazelcastBackend create(HazelcastInstance instance, String mapName) {
        return new Bucket4jHazelcastBackend(Objects.requireNonNull(instance, "instance"), checked(mapName), null);
    }

    /** As {@link #create(HazelcastInstance, String)}, with time from {@code ticker} (for tests). */
    public static Bucket4jHazelcastBackend create(HazelcastInstance instance, String mapName, Ticker ticker) {
        return new Bucket4jHazelcastBackend(Objects.requireNonNull(instance, "instance"), checked(mapName),
                Objects.requireNonNull(ticker, "ticker"));
    }

    @Override
    public Decision acquire(String key, Policy policy, Cost cost) {
        return Bucket4jPolicies.acquire(policy, cost, proxies(key, policy));
    }

    @Override
    public Decision refund(String key, Policy policy, Cost cost) {
        return Bucket4jPolicies.refund(policy, cost, proxies(key, policy));
    }

    /** The number of bucket entries in the map (one per key and limit). */
    @Override
    public long liveKeys() {
        return map.size();
    }

    /** Nothing to release: the instance is the caller's. */
    @Override
    public void close() {
    }

    private Bucket[] proxies(String key, Policy policy) {
        // The key's length first: no two (key, limit) pairs share an entry, whatever characters the key holds.
        return Bucket4jPolicies.distributed(buckets, key.length() + ":" + key + ":", policy, "Bucket4jHazelcastBackend");
    }

    private static String checked(String mapName) {
        if (mapName == null || !NAME.matcher(mapName).matches()) {
            throw new IllegalArgumentException("map name must be 1-128 characters of [A-Za-z0-9_.:-], was " + mapName);
        }
        return mapName;
    }
}

package dev.sluice.redis;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;
import dev.sluice.api.Ticker;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.bucket4j.Bucket4jPolicies;
import io.github.bucket4j.Bucket;
import io.github.bucket4j.distributed.ExpirationAfterWriteStrategy;
import io.github.bucket4j.redis.redisson.Bucket4jRedisson;
import io.github.bucket4j.redis.redisson.cas.RedissonBasedProxyManager;
import java.time.Duration;
import java.util.Objects;
import org.jspecify.annotations.Nullable;
import org.redisson.Redisson;
import org.redisson.api.RedissonClient;

/**
 * Runs {@link Algorithm#TOKEN_BUCKET} policies on Bucket4j's Redisson integration ({@code bucket4j_jdk17-redisson}),
 * for users who already trust Bucket4j; {@link RedisBackend} is the native engine. Each limit is one Bucket4j bucket
 * stored under the key's hash tag, so a key's buckets share a Cluster slot.
 *
 * <p>How it differs from {@link RedisBackend}: Bucket4j updates a bucket by compare-and-swap from the client (a read,
 * then a conditional write, retried under contention), so one acquire costs at least two round trips per limit;
 * several limits are charged one by one with a give-back on refusal (never more is admitted, but concurrent callers
 * may see tokens briefly missing); time is the client's wall clock (in microseconds; or the
 * given ticker), not Redis's; waits are rounded
 * up to whole microseconds plus one; a limit whose numbers change starts with a fresh bucket (its key includes
 * them); a backend failure propagates as Bucket4j's exception (there is no failure policy here).
 */
public final class Bucket4jRedisBackend implements LimiterBackend {

    private final RedissonBasedProxyManager<String> buckets;
    private final RedisBackend keys;

    private Bucket4jRedisBackend(RedissonClient client, String namespace, @Nullable Ticker ticker) {
        if (!(client instanceof Redisson redisson)) {
            throw new IllegalArgumentException("Bucket4j needs Redisson's own client, not " + client.getClass());
        }
        Bucket4jRedisson.RedissonBasedProxyManagerBuilder<String> b =
                Bucket4jRedisson.casBasedBuilder(redisson.getCommandExecutor())
                        .expirationAfterWrite(ExpirationAfterWriteStrategy.basedOnTimeForRefillingBucketUpToMax(
                                Duration.ofSeconds(1)));
        // Bucket4j's distributed buckets insist on epoch time; Sluice tickers count from the epoch.
        b.clientClock(ticker != null ? Bucket4jPolicies.timeMeter(ticker, true) : Bucket4jPolicies.wallClock());
        this.buckets = b.build();
        this.keys = RedisBackend.builder(client).namespace(namespace).build();
    }

    /** A backend on {@code client} under {@code namespace}, on the client's clock. */
    public static Bucket4jRedisBackend create(RedissonClient client, String namespace) {
        return new Bucket4jRedisBackend(Objects.requireNonNull(client, "client"), namespace, null);
    }

    /** As {@link #create(RedissonClient, String)}, with time from {@code ticker} (for tests). */
    public static Bucket4jRedisBackend create(RedissonClient client, String namespace, Ticker ticker) {
        return new Bucket4jRedisBackend(Objects.requireNonNull(client, "client"), namespace,
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

    @Override
    public long liveKeys() {
        return -1;
    }

    /** Nothing to release: the client is the caller's. */
    @Override
    public void close() {
    }

    private Bucket[] proxies(String key, Policy policy) {
        return Bucket4jPolicies.distributed(buckets, keys.redisKey(key) + ":b4j:", policy, "Bucket4jRedisBackend");
    }
}

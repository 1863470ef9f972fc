package dev.sluice.redis;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.api.Ticker;
import dev.sluice.api.spi.LimiterBackend;
import io.github.bucket4j.Bandwidth;
import io.github.bucket4j.BucketConfiguration;
import io.github.bucket4j.ConsumptionProbe;
import io.github.bucket4j.EstimationProbe;
import io.github.bucket4j.TimeMeter;
import io.github.bucket4j.distributed.BucketProxy;
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
 * may see tokens briefly missing); time is the client's clock (or the given ticker), not Redis's; waits are rounded
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
        if (ticker != null) {
            b.clientClock(new TimeMeter() {
                @Override
                public long currentTimeNanos() {
                    return ticker.nowMicros() * 1000L;
                }

                /** Bucket4j's distributed buckets insist on epoch time; Sluice tickers count from the epoch. */
                @Override
                public boolean isWallClockBased() {
                    return true;
                }
            });
        }
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
        BucketProxy[] proxies = proxies(key, policy);
        int size = policy.size();
        int refused = -1;
        long waitNanos = 0;
        for (int i = 0; i < size; i++) {
            long n = cost.units(policy.limit(i).dimension());
            if (n == 0) {
                continue;
            }
            ConsumptionProbe p = proxies[i].tryConsumeAndReturnRemaining(n);
            if (!p.isConsumed()) {
                refused = i;
                waitNanos = p.getNanosToWaitForRefill();
                break;
            }
        }
        if (refused < 0) {
            return Decision.granted(policy, remaining(proxies), -1);
        }
        int bound = refused;
        for (int i = 0; i < size; i++) {
            long n = cost.units(policy.limit(i).dimension());
            if (n == 0 || i == refused) {
                continue;
            }
            if (i < refused) {
                proxies[i].addTokens(n);
            } else {
                EstimationProbe e = proxies[i].estimateAbilityToConsume(n);
                if (!e.canBeConsumed() && e.getNanosToWaitForRefill() > waitNanos) {
                    waitNanos = e.getNanosToWaitForRefill();
                    bound = i;
                }
            }
        }
        return Decision.rateLimited(policy, waitNanos / 1000 + 1, remaining(proxies), bound);
    }

    @Override
    public Decision refund(String key, Policy policy, Cost cost) {
        BucketProxy[] proxies = proxies(key, policy);
        for (int i = 0; i < policy.size(); i++) {
            long n = cost.units(policy.limit(i).dimension());
            if (n > 0) {
                proxies[i].addTokens(n);
            }
        }
        return Decision.refunded(policy, remaining(proxies));
    }

    @Override
    public long liveKeys() {
        return -1;
    }

    /** Nothing to release: the client is the caller's. */
    @Override
    public void close() {
    }

    private BucketProxy[] proxies(String key, Policy policy) {
        BucketProxy[] proxies = new BucketProxy[policy.size()];
        String base = keys.redisKey(key);
        for (int i = 0; i < proxies.length; i++) {
            Limit l = policy.limit(i);
            if (l.algorithm() != Algorithm.TOKEN_BUCKET) {
                throw new IllegalArgumentException("Bucket4jRedisBackend runs TOKEN_BUCKET limits only, not " + l);
            }
            BucketConfiguration config = BucketConfiguration.builder()
                    .addLimit(Bandwidth.builder().capacity(l.burst()).refillGreedy(l.capacity(), l.period()).build())
                    .build();
            String name = base + ":b4j:" + l.dimension() + ":" + l.capacity() + ":" + l.periodMicros() + ":" + l.burst();
            proxies[i] = buckets.builder().build(name, () -> config);
        }
        return proxies;
    }

    private static long[] remaining(BucketProxy[] proxies) {
        long[] r = new long[proxies.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = proxies[i].getAvailableTokens();
        }
        return r;
    }
}

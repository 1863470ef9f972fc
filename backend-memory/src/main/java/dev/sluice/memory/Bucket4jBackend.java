package dev.sluice.memory;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.api.Ticker;
import dev.sluice.api.spi.LimiterBackend;
import io.github.bucket4j.Bandwidth;
import io.github.bucket4j.Bucket;
import io.github.bucket4j.BucketConfiguration;
import io.github.bucket4j.ConfigurationBuilder;
import io.github.bucket4j.ConsumptionProbe;
import io.github.bucket4j.EstimationProbe;
import io.github.bucket4j.TimeMeter;
import io.github.bucket4j.TokensInheritanceStrategy;
import io.github.bucket4j.local.LocalBucketBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Runs {@link Algorithm#TOKEN_BUCKET} policies on Bucket4j's local engine ({@code bucket4j_jdk17-core}), for users
 * who already trust it. Each limit becomes a Bucket4j bandwidth with capacity {@code burst} and a greedy refill of
 * {@code capacity} per period; the limits of one dimension share one bucket.
 *
 * <p>How it differs from the reference token bucket ({@link MemoryBackend}):
 * <ul>
 *   <li>A policy with several dimensions is charged bucket by bucket, and a later bucket's refusal gives the earlier
 *       buckets their tokens back: never more is admitted than the reference would, but a concurrent caller may
 *       briefly see those tokens missing, so under contention it can deny where the reference grants.</li>
 *   <li>Bucket4j keeps time in nanoseconds with its own rounding of fractional refill; waits are rounded up to whole
 *       microseconds here, so a wait can differ from the reference's by a microsecond.</li>
 *   <li>{@link Decision#remaining(int)} reports the dimension's bucket (the fewest tokens among its limits) for each
 *       limit of that dimension, and a policy change keeps consumption with Bucket4j's {@code ADDITIVE} inheritance.</li>
 * </ul>
 * Idle keys are dropped once their buckets have had time to refill fully.
 */
public final class Bucket4jBackend implements LimiterBackend {

    private final Cache<String, Buckets> buckets;
    private final TimeMeter time;

    private Bucket4jBackend(Ticker ticker, long maxKeys) {
        this.time = new TimeMeter() {
            @Override
            public long currentTimeNanos() {
                return ticker.nowMicros() * 1000L;
            }

            @Override
            public boolean isWallClockBased() {
                return false;
            }
        };
        this.buckets = Caffeine.newBuilder()
                .maximumSize(maxKeys)
                .ticker(() -> ticker.nowMicros() * 1000L)
                .expireAfter(new Expiry<String, Buckets>() {
                    @Override
                    public long expireAfterCreate(String key, Buckets value, long currentTime) {
                        return value.refillNanos;
                    }

                    @Override
                    public long expireAfterUpdate(String key, Buckets value, long currentTime, long duration) {
                        return value.refillNanos;
                    }

                    @Override
                    public long expireAfterRead(String key, Buckets value, long currentTime, long duration) {
                        return value.refillNanos;
                    }
                })
                .build();
    }

    /** A backend on {@code ticker} holding at most {@code maxKeys} keys (least recently used go first). */
    public static Bucket4jBackend create(Ticker ticker, long maxKeys) {
        if (maxKeys < 1) {
            throw new IllegalArgumentException("maxKeys must be positive, was " + maxKeys);
        }
        return new Bucket4jBackend(Objects.requireNonNull(ticker, "ticker"), maxKeys);
    }

    /** A backend on the system ticker holding at most 10,000,000 keys. */
    public static Bucket4jBackend create() {
        return create(Ticker.system(), 10_000_000);
    }

    @Override
    public Decision acquire(String key, Policy policy, Cost cost) {
        Buckets b = buckets(key, policy);
        int taken = 0;
        long waitNanos = 0;
        int refusedAt = -1;
        for (; taken < b.dimensions.size(); taken++) {
            long n = cost.units(b.dimensions.get(taken));
            if (n == 0) {
                continue;
            }
            ConsumptionProbe p = b.buckets.get(taken).tryConsumeAndReturnRemaining(n);
            if (!p.isConsumed()) {
                waitNanos = p.getNanosToWaitForRefill();
                refusedAt = taken;
                break;
            }
        }
        if (refusedAt >= 0) {
            for (int i = 0; i < refusedAt; i++) {
                long n = cost.units(b.dimensions.get(i));
                if (n > 0) {
                    b.buckets.get(i).addTokens(n);
                }
            }
            for (int i = refusedAt + 1; i < b.dimensions.size(); i++) {
                long n = cost.units(b.dimensions.get(i));
                if (n > 0) {
                    EstimationProbe e = b.buckets.get(i).estimateAbilityToConsume(n);
                    waitNanos = Math.max(waitNanos, e.canBeConsumed() ? 0 : e.getNanosToWaitForRefill());
                }
            }
            String dim = b.dimensions.get(refusedAt);
            int bound = -1;
            for (int i = 0; i < policy.size(); i++) {
                if (policy.limit(i).dimension().equals(dim)) {
                    bound = i;
                    break;
                }
            }
            long micros = Math.max(1, (waitNanos + 999) / 1000);
            return Decision.rateLimited(policy, micros, remaining(b, policy), bound);
        }
        return Decision.granted(policy, remaining(b, policy), -1);
    }

    @Override
    public Decision refund(String key, Policy policy, Cost cost) {
        Buckets b = buckets.getIfPresent(key);
        if (b == null) {
            return Decision.refunded(policy, fullRemaining(policy));
        }
        if (!b.policy.equals(policy)) {
            b = buckets(key, policy);
        }
        for (int i = 0; i < b.dimensions.size(); i++) {
            long n = cost.units(b.dimensions.get(i));
            if (n > 0) {
                b.buckets.get(i).addTokens(n);
            }
        }
        return Decision.refunded(policy, remaining(b, policy));
    }

    @Override
    public long liveKeys() {
        buckets.cleanUp();
        return buckets.estimatedSize();
    }

    @Override
    public void close() {
        buckets.invalidateAll();
    }

    private Buckets buckets(String key, Policy policy) {
        Buckets b = buckets.get(key, k -> Buckets.of(policy, time));
        if (b.policy.equals(policy)) {
            return b;
        }
        return buckets.asMap().compute(key, (k, old) -> old == null
                ? Buckets.of(policy, time)
                : old.policy.equals(policy) ? old : old.adopt(policy, time));
    }

    private static long[] remaining(Buckets b, Policy policy) {
        long[] r = new long[policy.size()];
        for (int i = 0; i < policy.size(); i++) {
            r[i] = b.buckets.get(b.dimensions.indexOf(policy.limit(i).dimension())).getAvailableTokens();
        }
        return r;
    }

    private static long[] fullRemaining(Policy policy) {
        long[] r = new long[policy.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = policy.limit(i).burst();
        }
        return r;
    }

    private static BucketConfiguration configuration(Policy policy, String dimension) {
        ConfigurationBuilder c = BucketConfiguration.builder();
        for (Limit l : policy.limits()) {
            if (l.dimension().equals(dimension)) {
                c.addLimit(Bandwidth.builder().capacity(l.burst()).refillGreedy(l.capacity(), l.period()).build());
            }
        }
        return c.build();
    }

    /** The buckets of one key, one per dimension of its policy; replaced, never modified, when the policy changes. */
    private static final class Buckets {
        final Policy policy;
        final List<String> dimensions;
        final List<Bucket> buckets;
        final long refillNanos;

        private Buckets(Policy policy, List<String> dimensions, List<Bucket> buckets) {
            this.policy = policy;
            this.dimensions = List.copyOf(dimensions);
            this.buckets = List.copyOf(buckets);
            long refill = 0;
            for (Limit l : policy.limits()) {
                // An empty bucket is full again after burst / (capacity per period); burst × period fits a long.
                refill = Math.max(refill, Math.floorDiv(l.burst() * l.periodMicros() + l.capacity() - 1, l.capacity())
                        + l.periodMicros());
            }
            this.refillNanos = refill > Long.MAX_VALUE / 1000 ? Long.MAX_VALUE / 2 : refill * 1000L;
        }

        static Buckets of(Policy policy, TimeMeter time) {
            check(policy);
            List<Bucket> list = new ArrayList<>();
            for (String d : policy.dimensions()) {
                list.add(newBucket(policy, d, time));
            }
            return new Buckets(policy, policy.dimensions(), list);
        }

        /** The same buckets under {@code next}, keeping consumption (Bucket4j's ADDITIVE inheritance). */
        Buckets adopt(Policy next, TimeMeter time) {
            check(next);
            List<Bucket> list = new ArrayList<>();
            for (String d : next.dimensions()) {
                int i = dimensions.indexOf(d);
                if (i < 0) {
                    list.add(newBucket(next, d, time));
                } else {
                    Bucket b = buckets.get(i);
                    b.replaceConfiguration(configuration(next, d), TokensInheritanceStrategy.ADDITIVE);
                    list.add(b);
                }
            }
            return new Buckets(next, next.dimensions(), list);
        }

        private static Bucket newBucket(Policy policy, String dimension, TimeMeter time) {
            LocalBucketBuilder b = Bucket.builder().withCustomTimePrecision(time);
            for (Bandwidth bw : configuration(policy, dimension).getBandwidths()) {
                b.addLimit(bw);
            }
            return b.build();
        }

        private static void check(Policy policy) {
            for (Limit l : policy.limits()) {
                if (l.algorithm() != Algorithm.TOKEN_BUCKET) {
                    throw new IllegalArgumentException("Bucket4jBackend runs TOKEN_BUCKET limits only, not " + l);
                }
            }
        }
    }
}

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
import dev.sluice.bucket4j.Bucket4jPolicies;
import io.github.bucket4j.Bandwidth;
import io.github.bucket4j.Bucket;
import io.github.bucket4j.BucketConfiguration;
import io.github.bucket4j.TimeMeter;
import io.github.bucket4j.TokensInheritanceStrategy;
import java.util.Objects;

/**
 * Runs {@link Algorithm#TOKEN_BUCKET} policies on Bucket4j's local engine ({@code bucket4j_jdk17-core}), for users
 * who already trust it. Each limit becomes its own Bucket4j bucket with capacity {@code burst} and a greedy refill of
 * {@code capacity} per period.
 *
 * <p>How it differs from the reference token bucket ({@link MemoryBackend}):
 * <ul>
 *   <li>A policy of several limits is charged bucket by bucket, and a later bucket's refusal gives the earlier buckets
 *       their tokens back: never more is admitted than the reference would, but a concurrent caller may briefly see
 *       those tokens missing, so under contention it can deny where the reference grants.</li>
 *   <li>Bucket4j keeps time in nanoseconds and floors its waits; they are reported here as whole microseconds plus
 *       one, so a wait is up to 1 µs longer than the reference's, never shorter.</li>
 *   <li>A policy change reconfigures, in place, the bucket of each old limit with the same dimension and period as
 *       a new one, with Bucket4j's {@code ADDITIVE} inheritance: a larger burst adds its difference to the tokens
 *       left, a smaller one caps them at the new burst. The reference keeps the consumption instead
 *       ({@code max(0, newBurst − used)}), so on a smaller burst this engine admits more at first: 10 per minute with
 *       8 used, then 5 per minute, leaves 2 here and 0 in the reference. A new limit with no such old limit starts
 *       full here, where the reference charges it with what is in use. Switching a key back and forth between two
 *       policies can therefore refill it: keep one policy per key on this engine, or use {@link MemoryBackend}.</li>
 *   <li>Idle keys are dropped once their buckets have had time to refill fully (Caffeine's expiry runs about a
 *       second late); beyond {@code maxKeys} Caffeine evicts by its own (W-TinyLFU) policy, and an evicted key starts
 *       full again, so size {@code maxKeys} generously.</li>
 * </ul>
 */
public final class Bucket4jBackend implements LimiterBackend {

    private final Cache<String, Buckets> buckets;
    private final TimeMeter time;

    private Bucket4jBackend(Ticker ticker, long maxKeys) {
        this.time = Bucket4jPolicies.timeMeter(ticker, false);
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

    /** A backend on {@code ticker} holding at most about {@code maxKeys} keys. */
    public static Bucket4jBackend create(Ticker ticker, long maxKeys) {
        if (maxKeys < 1) {
            throw new IllegalArgumentException("maxKeys must be positive, was " + maxKeys);
        }
        return new Bucket4jBackend(Objects.requireNonNull(ticker, "ticker"), maxKeys);
    }

    /** A backend on the system ticker holding at most about 10,000,000 keys. */
    public static Bucket4jBackend create() {
        return create(Ticker.system(), 10_000_000);
    }

    @Override
    public Decision acquire(String key, Policy policy, Cost cost) {
        return Bucket4jPolicies.acquire(policy, cost, buckets(key, policy).buckets);
    }

    @Override
    public Decision refund(String key, Policy policy, Cost cost) {
        Buckets b = buckets.getIfPresent(key);
        if (b == null) {
            long[] full = new long[policy.size()];
            for (int i = 0; i < full.length; i++) {
                full[i] = policy.limit(i).burst();
            }
            return Decision.refunded(policy, full);
        }
        if (!b.policy.equals(policy)) {
            b = buckets(key, policy);
        }
        return Bucket4jPolicies.refund(policy, cost, b.buckets);
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

    /**
     * The buckets of one key, one per limit of its policy; replaced when the policy changes, the buckets kept being
     * reconfigured in place (so a caller still holding the old holder is charged under the new configuration).
     */
    private static final class Buckets {
        final Policy policy;
        final Bucket[] buckets;
        final long refillNanos;

        private Buckets(Policy policy, Bucket[] buckets) {
            this.policy = policy;
            this.buckets = buckets;
            long refill = Bucket4jPolicies.refillMicros(policy);
            this.refillNanos = refill > Long.MAX_VALUE / 1000 ? Long.MAX_VALUE / 2 : refill * 1000L;
        }

        static Buckets of(Policy policy, TimeMeter time) {
            check(policy);
            Bucket[] list = new Bucket[policy.size()];
            for (int i = 0; i < list.length; i++) {
                list[i] = Bucket.builder().withCustomTimePrecision(time).addLimit(bandwidth(policy.limit(i))).build();
            }
            return new Buckets(policy, list);
        }

        /**
         * The same buckets under {@code next}: each new limit takes the bucket of the old limit with the same
         * dimension and period (Bucket4j's ADDITIVE inheritance keeps its consumption); others start full.
         */
        Buckets adopt(Policy next, TimeMeter time) {
            check(next);
            Bucket[] list = new Bucket[next.size()];
            boolean[] taken = new boolean[policy.size()];
            for (int j = 0; j < list.length; j++) {
                Limit to = next.limit(j);
                for (int i = 0; i < policy.size() && list[j] == null; i++) {
                    Limit from = policy.limit(i);
                    if (!taken[i] && from.dimension().equals(to.dimension())
                            && from.periodMicros() == to.periodMicros()) {
                        taken[i] = true;
                        buckets[i].replaceConfiguration(BucketConfiguration.builder().addLimit(bandwidth(to)).build(),
                                TokensInheritanceStrategy.ADDITIVE);
                        list[j] = buckets[i];
                    }
                }
                if (list[j] == null) {
                    list[j] = Bucket.builder().withCustomTimePrecision(time).addLimit(bandwidth(to)).build();
                }
            }
            return new Buckets(next, list);
        }

        private static Bandwidth bandwidth(Limit l) {
            return Bucket4jPolicies.bandwidth(l);
        }

        private static void check(Policy policy) {
            Bucket4jPolicies.requireTokenBuckets(policy, "Bucket4jBackend");
        }
    }
}

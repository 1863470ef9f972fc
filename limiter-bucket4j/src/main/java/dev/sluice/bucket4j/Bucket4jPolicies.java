package dev.sluice.bucket4j;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.api.Ticker;
import io.github.bucket4j.Bandwidth;
import io.github.bucket4j.Bucket;
import io.github.bucket4j.BucketConfiguration;
import io.github.bucket4j.ConsumptionProbe;
import io.github.bucket4j.EstimationProbe;
import io.github.bucket4j.TimeMeter;
import io.github.bucket4j.distributed.proxy.ProxyManager;
import java.time.Instant;
import org.jspecify.annotations.Nullable;

/**
 * Charges a Sluice policy on Bucket4j buckets, one bucket per limit: what the Bucket4j-engine backends share.
 *
 * <p>Each {@link Algorithm#TOKEN_BUCKET} limit becomes a bucket of capacity {@code burst} with a greedy refill of
 * {@code capacity} per period. Bucket4j has no multi-bucket transaction, so a policy is charged bucket by bucket and a
 * later bucket's refusal gives the earlier ones their tokens back: never more is admitted than the reference token
 * bucket admits, but a concurrent caller may briefly see those tokens missing and be denied where the reference
 * grants. Bucket4j floors its nanosecond waits; they are reported as whole microseconds plus one, so never short.
 */
public final class Bucket4jPolicies {

    private Bucket4jPolicies() {
    }

    /**
     * Checks that every limit of {@code policy} is a token bucket that Bucket4j can run: Bucket4j refills at most one
     * token per nanosecond and computes in nanoseconds, so a very fast or very long limit that Sluice accepts may be
     * beyond it.
     *
     * @throws IllegalArgumentException naming the first other limit, {@code engine} and, for a limit Bucket4j
     *     refuses, its reason
     */
    public static void requireTokenBuckets(Policy policy, String engine) {
        for (Limit l : policy.limits()) {
            if (l.algorithm() != Algorithm.TOKEN_BUCKET) {
                throw new IllegalArgumentException(engine + " runs TOKEN_BUCKET limits only, not " + l);
            }
            try {
                bandwidth(l);
            } catch (RuntimeException e) { // Bucket4j's IllegalArgumentException or an ArithmeticException
                throw new IllegalArgumentException(engine + " cannot run " + l + ": " + e.getMessage(), e);
            }
        }
    }

    /** The bucket configuration of one limit: capacity {@code burst}, greedy refill of {@code capacity} per period. */
    public static BucketConfiguration configuration(Limit limit) {
        return BucketConfiguration.builder().addLimit(bandwidth(limit)).build();
    }

    /** The Bucket4j bandwidth of one limit. */
    public static Bandwidth bandwidth(Limit limit) {
        return Bandwidth.builder().capacity(limit.burst()).refillGreedy(limit.capacity(), limit.period()).build();
    }

    /**
     * A name for the bucket of {@code limit} under a key, unique per dimension and numbers: a limit whose numbers
     * change gets a fresh bucket in a store keyed by it.
     */
    public static String bucketName(Limit limit) {
        return limit.dimension() + ":" + limit.capacity() + ":" + limit.periodMicros() + ":" + limit.burst();
    }

    /** How long an empty bucket of {@code policy} takes to fill up again, plus one period, in microseconds. */
    public static long refillMicros(Policy policy) {
        long refill = 0;
        for (Limit l : policy.limits()) {
            // burst × period fits a long (a Limit bound), so the ceiling division cannot overflow.
            refill = Math.max(refill, Math.floorDiv(l.burst() * l.periodMicros() + l.capacity() - 1, l.capacity())
                    + l.periodMicros());
        }
        return refill;
    }

    /**
     * The wall clock in microseconds ({@link Instant#now()}), for distributed buckets: Bucket4j's own default counts
     * milliseconds, against which a wait can come out up to a millisecond short.
     */
    public static TimeMeter wallClock() {
        return new TimeMeter() {
            @Override
            public long currentTimeNanos() {
                Instant now = Instant.now();
                return now.getEpochSecond() * 1_000_000_000L + now.getNano() / 1000 * 1000;
            }

            @Override
            public boolean isWallClockBased() {
                return true;
            }
        };
    }

    /**
     * Bucket4j's time source on {@code ticker}. Distributed buckets insist on a wall clock; Sluice tickers count
     * from the epoch, so {@code wallClock} may say so.
     */
    public static TimeMeter timeMeter(Ticker ticker, boolean wallClock) {
        return new TimeMeter() {
            @Override
            public long currentTimeNanos() {
                return ticker.nowMicros() * 1000L;
            }

            @Override
            public boolean isWallClockBased() {
                return wallClock;
            }
        };
    }

    /**
     * Charges {@code cost} on {@code buckets} (one per limit of {@code policy}, in order) all or nothing. If a bucket
     * throws (a distributed store's failure), what the earlier buckets took is given back before the exception
     * propagates; so is everything, if reading what remains after a grant fails.
     *
     * @return granted with what remains, or rate-limited with the longest wait and the limit that binds
     */
    public static Decision acquire(Policy policy, Cost cost, Bucket[] buckets) {
        int size = policy.size();
        int refused = -1;
        long waitNanos = 0;
        int charged = 0; // buckets [0, charged) took their units
        try {
            for (int i = 0; i < size; i++) {
                long n = cost.units(policy.limit(i).dimension());
                if (n > 0) {
                    ConsumptionProbe p = buckets[i].tryConsumeAndReturnRemaining(n);
                    if (!p.isConsumed()) {
                        refused = i;
                        waitNanos = p.getNanosToWaitForRefill();
                        break;
                    }
                }
                charged = i + 1;
            }
            if (refused < 0) {
                return Decision.granted(policy, remaining(buckets), -1);
            }
        } catch (RuntimeException e) {
            giveBack(policy, cost, buckets, charged, e);
            throw e;
        }
        int bound = refused;
        giveBack(policy, cost, buckets, refused, null); // all or nothing: what the earlier limits took
        for (int i = refused + 1; i < size; i++) {
            long n = cost.units(policy.limit(i).dimension());
            if (n > 0) {
                EstimationProbe e = buckets[i].estimateAbilityToConsume(n);
                if (!e.canBeConsumed() && e.getNanosToWaitForRefill() > waitNanos) {
                    waitNanos = e.getNanosToWaitForRefill();
                    bound = i;
                }
            }
        }
        return Decision.rateLimited(policy, waitNanos / 1000 + 1, remaining(buckets), bound);
    }

    /**
     * Gives back what {@code buckets[0, upTo)} took of {@code cost}, trying every one. A failure is added to
     * {@code failure} if there is one, else the first is thrown once all were tried.
     */
    private static void giveBack(Policy policy, Cost cost, Bucket[] buckets, int upTo,
            @Nullable RuntimeException failure) {
        RuntimeException first = failure;
        for (int i = 0; i < upTo; i++) {
            long n = cost.units(policy.limit(i).dimension());
            if (n > 0) {
                try {
                    buckets[i].addTokens(n);
                } catch (RuntimeException e) {
                    if (first == null) {
                        first = e;
                    } else {
                        first.addSuppressed(e);
                    }
                }
            }
        }
        if (failure == null && first != null) {
            throw first;
        }
    }

    /** Gives {@code cost} back to {@code buckets}, never beyond full (Bucket4j caps {@code addTokens}). */
    public static Decision refund(Policy policy, Cost cost, Bucket[] buckets) {
        for (int i = 0; i < policy.size(); i++) {
            long n = cost.units(policy.limit(i).dimension());
            if (n > 0) {
                buckets[i].addTokens(n);
            }
        }
        return Decision.refunded(policy, remaining(buckets));
    }

    /**
     * The buckets of {@code policy} in a distributed store, one per limit, named {@code prefix} +
     * {@link #bucketName}; created with their configuration on first use.
     *
     * @throws IllegalArgumentException if a limit is not a token bucket, naming {@code engine}
     */
    public static Bucket[] distributed(ProxyManager<String> store, String prefix, Policy policy, String engine) {
        requireTokenBuckets(policy, engine);
        Bucket[] buckets = new Bucket[policy.size()];
        for (int i = 0; i < buckets.length; i++) {
            Limit l = policy.limit(i);
            BucketConfiguration config = configuration(l);
            buckets[i] = store.builder().build(prefix + bucketName(l), () -> config);
        }
        return buckets;
    }

    /** What remains in each bucket now. */
    public static long[] remaining(Bucket[] buckets) {
        long[] r = new long[buckets.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = buckets[i].getAvailableTokens();
        }
        return r;
    }
}

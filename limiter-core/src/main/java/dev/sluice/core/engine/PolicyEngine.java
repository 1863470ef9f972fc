package dev.sluice.core.engine;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import org.jspecify.annotations.Nullable;

/**
 * Applies a {@link Policy} to one key's state: the reference every backend executes or reproduces. Pure and
 * deterministic: the same state, cost and time always give the same result, and nothing here reads a clock.
 *
 * <ul>
 *   <li>All or none: a call is granted only if every limit admits its cost; only then is every limit charged.</li>
 *   <li>A denial charges nothing and carries the exact wait: the largest of the limits' waits, after which every
 *       limit admits the cost if nothing else consumed meanwhile.</li>
 *   <li>A state written under another policy is first {@linkplain #migrate migrated}, keeping what was consumed.</li>
 * </ul>
 */
public final class PolicyEngine {

    /** The outcome of one transition: the new state ({@code ==} the old one when nothing changed) and the decision. */
    public record Result(@Nullable PolicyState state, Decision decision) {
    }

    private PolicyEngine() {
    }

    /**
     * Checks that {@code cost} can apply to {@code policy}: every dimension it names is counted, and no limit's
     * largest cost is exceeded.
     *
     * @throws IllegalArgumentException naming the dimension or the limit otherwise
     */
    public static void validate(Policy policy, Cost cost) {
        for (int i = 0; i < cost.size(); i++) {
            if (!policy.hasDimension(cost.dimension(i))) {
                throw new IllegalArgumentException("cost names dimension '" + cost.dimension(i)
                        + "', which no limit of the policy counts (dimensions: " + policy.dimensions() + ")");
            }
        }
        for (int i = 0; i < policy.size(); i++) {
            Limit limit = policy.limit(i);
            long n = cost.units(limit.dimension());
            if (n > limit.maxCost()) {
                throw new IllegalArgumentException("cost of " + n + " " + limit.dimension()
                        + " can never be granted: it exceeds the largest cost " + limit.maxCost() + " of limit "
                        + limit);
            }
        }
    }

    /**
     * Grants and charges {@code cost} on every limit, or charges nothing and returns the exact wait. The cost must
     * have passed {@link #validate}.
     */
    public static Result acquire(Policy policy, @Nullable PolicyState state, Cost cost, long now) {
        // Kept tiny so that it inlines into executors and the Result never reaches the heap.
        PolicyState current = state == null || state.policy() == policy ? state : migrate(state, policy, now);
        return policy.size() == 1 ? acquireOne(policy, current, cost, now) : acquireMany(policy, current, cost, now);
    }

    private static Result acquireMany(Policy policy, @Nullable PolicyState current, Cost cost, long now) {
        int size = policy.size();
        long maxWait = 0;
        int bound = -1;
        for (int i = 0; i < size; i++) {
            Limit limit = policy.limit(i);
            long n = cost.units(limit.dimension());
            if (n == 0) {
                continue;
            }
            long wait = waitMicros(limit, limitState(current, i), n, now);
            if (wait > maxWait) {
                maxWait = wait;
                bound = i;
            }
        }
        long[] remaining = new long[size];
        if (maxWait > 0) {
            for (int i = 0; i < size; i++) {
                remaining[i] = remaining(policy.limit(i), limitState(current, i), now);
            }
            return new Result(current, Decision.rateLimited(policy, maxWait, remaining, bound));
        }
        @Nullable LimitState[] next = new LimitState[size];
        for (int i = 0; i < size; i++) {
            Limit limit = policy.limit(i);
            long n = cost.units(limit.dimension());
            LimitState s = limitState(current, i);
            next[i] = n == 0 ? s : charge(limit, s, n, now);
            remaining[i] = remaining(limit, next[i], now);
        }
        return new Result(new PolicyState(policy, next), Decision.granted(policy, remaining, -1));
    }

    /** {@link #acquire} for a policy of one limit: the same decisions, fewer allocations. */
    private static Result acquireOne(Policy policy, @Nullable PolicyState current, Cost cost, long now) {
        LimitState s = current == null ? null : current.limit(0);
        SingleResult r = acquireSingle(policy, s, cost, now);
        return new Result(r.state() == s ? current : new PolicyState(policy, r.state()), r.decision());
    }

    /** The outcome of {@link #acquireSingle}: the limit's new state ({@code ==} the old one if unchanged). */
    public record SingleResult(@Nullable LimitState state, Decision decision) {
    }

    /**
     * {@link #acquire} for a policy of exactly one limit whose state was last written under this same policy, on the
     * bare limit state: lets an executor store one object per key instead of two.
     */
    public static SingleResult acquireSingle(Policy policy, @Nullable LimitState s, Cost cost, long now) {
        Limit limit = policy.limit(0);
        long n = cost.units(limit.dimension());
        if (n > 0) {
            // The grant of the two bucket algorithms in one pass: the same state and decision as wait, charge and
            // remaining below (SingleGrantTest checks it), with the refill or debt computed once instead of three
            // times.
            if (limit.algorithm() == Algorithm.TOKEN_BUCKET) {
                TokenBucket.State next = TokenBucket.grant(limit, (TokenBucket.State) s, n, now);
                if (next != null) {
                    return new SingleResult(next, Decision.granted(policy, next.scaledTokens() / limit.periodMicros()));
                }
            } else if (limit.algorithm() == Algorithm.GCRA) {
                long debt = Gcra.debtAfter(limit, (Gcra.State) s, n, now);
                if (debt >= 0) {
                    return new SingleResult(Gcra.at(limit, now, debt),
                            Decision.granted(policy, Gcra.remaining(limit, debt)));
                }
            }
        }
        long wait = n == 0 ? 0 : waitMicros(limit, s, n, now);
        if (wait > 0) {
            return new SingleResult(s, Decision.rateLimited(policy, wait, remaining(limit, s, now)));
        }
        LimitState next = n == 0 ? s : charge(limit, s, n, now);
        return new SingleResult(next, Decision.granted(policy, remaining(limit, next, now)));
    }

    /** Gives {@code cost} back to every limit, never beyond a fresh state. The cost must have passed {@link #validate}. */
    public static Result refund(Policy policy, @Nullable PolicyState state, Cost cost, long now) {
        PolicyState current = migrate(state, policy, now);
        int size = policy.size();
        @Nullable LimitState[] next = new LimitState[size];
        long[] remaining = new long[size];
        boolean any = false;
        for (int i = 0; i < size; i++) {
            Limit limit = policy.limit(i);
            long n = cost.units(limit.dimension());
            LimitState s = limitState(current, i);
            next[i] = n == 0 ? s : refund(limit, s, n, now);
            any |= next[i] != null;
            remaining[i] = remaining(limit, next[i], now);
        }
        return new Result(any ? new PolicyState(policy, next) : null, Decision.refunded(policy, remaining));
    }

    /**
     * The earliest time at which {@code state} is indistinguishable from no state at all, so a backend may forget the
     * key: {@link Long#MIN_VALUE} if it is already fresh. Independent of the current time.
     */
    public static long restAt(@Nullable PolicyState state) {
        if (state == null) {
            return Long.MIN_VALUE;
        }
        long rest = Long.MIN_VALUE;
        for (int i = 0; i < state.size(); i++) {
            LimitState s = state.limit(i);
            if (s != null) {
                rest = Math.max(rest, restAt(state.policy().limit(i), s));
            }
        }
        return rest;
    }

    /**
     * {@code state} carried over to {@code policy} at {@code now}, keeping what was consumed. Each new limit takes its
     * state from the old limit on the same dimension: with the same algorithm and period the state itself is kept
     * (rescaled to a new burst or rate where the algorithm needs it); otherwise the new limit is seeded with the units
     * the old limits of that dimension say are in use now: the largest among those of the same period if there are
     * any (an algorithm changed: the same horizon), else the largest of all of them (conservative: a longer period's
     * count includes the new period's). A dimension new to the policy starts fresh. Returns {@code state} itself when
     * the policy is unchanged.
     */
    public static @Nullable PolicyState migrate(@Nullable PolicyState state, Policy policy, long now) {
        if (state == null || state.policy() == policy) {
            return state;
        }
        Policy old = state.policy();
        if (old.limits().equals(policy.limits())) {
            return new PolicyState(policy, limitsOf(state));
        }
        @Nullable LimitState[] next = new LimitState[policy.size()];
        for (int j = 0; j < policy.size(); j++) {
            Limit to = policy.limit(j);
            int same = -1;
            long used = 0;
            long usedSamePeriod = -1;
            for (int i = 0; i < old.size(); i++) {
                Limit from = old.limit(i);
                if (!from.dimension().equals(to.dimension())) {
                    continue;
                }
                if (same < 0 && from.algorithm() == to.algorithm() && from.periodMicros() == to.periodMicros()) {
                    same = i;
                }
                long u = used(from, state.limit(i), now);
                used = Math.max(used, u);
                if (from.periodMicros() == to.periodMicros()) {
                    usedSamePeriod = Math.max(usedSamePeriod, u);
                }
            }
            next[j] = same >= 0 ? rescale(old.limit(same), state.limit(same), to, now)
                    : seed(to, usedSamePeriod >= 0 ? usedSamePeriod : used, now);
        }
        return new PolicyState(policy, next);
    }

    private static @Nullable LimitState[] limitsOf(PolicyState state) {
        @Nullable LimitState[] copy = new LimitState[state.size()];
        for (int i = 0; i < copy.length; i++) {
            copy[i] = state.limit(i);
        }
        return copy;
    }

    private static @Nullable LimitState limitState(@Nullable PolicyState state, int i) {
        return state == null ? null : state.limit(i);
    }

    // Dispatch on the algorithm: static calls keep the hot path monomorphic and allocation-light.

    static long waitMicros(Limit limit, @Nullable LimitState s, long n, long now) {
        return switch (limit.algorithm()) {
            case FIXED_WINDOW -> FixedWindow.waitMicros(limit, (FixedWindow.State) s, n, now);
            case SLIDING_LOG -> SlidingLog.waitMicros(limit, (SlidingLog.State) s, n, now);
            case SLIDING_WINDOW_COUNTER -> SlidingWindowCounter.waitMicros(limit, (SlidingWindowCounter.State) s, n, now);
            case TOKEN_BUCKET -> TokenBucket.waitMicros(limit, (TokenBucket.State) s, n, now);
            case GCRA -> Gcra.waitMicros(limit, (Gcra.State) s, n, now);
        };
    }

    static LimitState charge(Limit limit, @Nullable LimitState s, long n, long now) {
        return switch (limit.algorithm()) {
            case FIXED_WINDOW -> FixedWindow.charge(limit, (FixedWindow.State) s, n, now);
            case SLIDING_LOG -> SlidingLog.charge(limit, (SlidingLog.State) s, n, now);
            case SLIDING_WINDOW_COUNTER -> SlidingWindowCounter.charge(limit, (SlidingWindowCounter.State) s, n, now);
            case TOKEN_BUCKET -> TokenBucket.charge(limit, (TokenBucket.State) s, n, now);
            case GCRA -> Gcra.charge(limit, (Gcra.State) s, n, now);
        };
    }

    /** Units {@code limit} could grant at {@code now} from state {@code s}. */
    public static long remaining(Limit limit, @Nullable LimitState s, long now) {
        return switch (limit.algorithm()) {
            case FIXED_WINDOW -> FixedWindow.remaining(limit, (FixedWindow.State) s, now);
            case SLIDING_LOG -> SlidingLog.remaining(limit, (SlidingLog.State) s, now);
            case SLIDING_WINDOW_COUNTER -> SlidingWindowCounter.remaining(limit, (SlidingWindowCounter.State) s, now);
            case TOKEN_BUCKET -> TokenBucket.remaining(limit, (TokenBucket.State) s, now);
            case GCRA -> Gcra.remaining(limit, (Gcra.State) s, now);
        };
    }

    static @Nullable LimitState refund(Limit limit, @Nullable LimitState s, long n, long now) {
        return switch (limit.algorithm()) {
            case FIXED_WINDOW -> FixedWindow.refund(limit, (FixedWindow.State) s, n, now);
            case SLIDING_LOG -> SlidingLog.refund(limit, (SlidingLog.State) s, n, now);
            case SLIDING_WINDOW_COUNTER -> SlidingWindowCounter.refund(limit, (SlidingWindowCounter.State) s, n, now);
            case TOKEN_BUCKET -> TokenBucket.refund(limit, (TokenBucket.State) s, n, now);
            case GCRA -> Gcra.refund(limit, (Gcra.State) s, n, now);
        };
    }

    /** The earliest time at which the state {@code s} of {@code limit} equals a fresh one; see {@link #restAt}. */
    public static long restAt(Limit limit, LimitState s) {
        return switch (limit.algorithm()) {
            case FIXED_WINDOW -> FixedWindow.restAt(limit, (FixedWindow.State) s);
            case SLIDING_LOG -> SlidingLog.restAt(limit, (SlidingLog.State) s);
            case SLIDING_WINDOW_COUNTER -> SlidingWindowCounter.restAt(limit, (SlidingWindowCounter.State) s);
            case TOKEN_BUCKET -> TokenBucket.restAt(limit, (TokenBucket.State) s);
            case GCRA -> Gcra.restAt(limit, (Gcra.State) s);
        };
    }

    /** Units of {@code limit} in use at {@code now}, rounded up. */
    static long used(Limit limit, @Nullable LimitState s, long now) {
        return switch (limit.algorithm()) {
            case FIXED_WINDOW -> FixedWindow.used(limit, (FixedWindow.State) s, now);
            case SLIDING_LOG -> SlidingLog.used(limit, (SlidingLog.State) s, now);
            case SLIDING_WINDOW_COUNTER -> SlidingWindowCounter.used(limit, (SlidingWindowCounter.State) s, now);
            case TOKEN_BUCKET -> TokenBucket.used(limit, (TokenBucket.State) s, now);
            case GCRA -> Gcra.used(limit, (Gcra.State) s, now);
        };
    }

    static @Nullable LimitState seed(Limit limit, long used, long now) {
        return switch (limit.algorithm()) {
            case FIXED_WINDOW -> FixedWindow.seed(limit, used, now);
            case SLIDING_LOG -> SlidingLog.seed(limit, used, now);
            case SLIDING_WINDOW_COUNTER -> SlidingWindowCounter.seed(limit, used, now);
            case TOKEN_BUCKET -> TokenBucket.seed(limit, used, now);
            case GCRA -> Gcra.seed(limit, used, now);
        };
    }

    /** Same dimension, algorithm and period: keep the state, rescaled where the burst or rate enters it. */
    static @Nullable LimitState rescale(Limit from, @Nullable LimitState s, Limit to, long now) {
        if (s == null) {
            return null;
        }
        return switch (to.algorithm()) {
            case FIXED_WINDOW, SLIDING_LOG, SLIDING_WINDOW_COUNTER -> s;
            case TOKEN_BUCKET -> TokenBucket.rescale(from, (TokenBucket.State) s, to, now);
            case GCRA -> Gcra.rescale(from, (Gcra.State) s, to, now);
        };
    }
}

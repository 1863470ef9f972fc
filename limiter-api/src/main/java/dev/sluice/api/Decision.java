package dev.sluice.api;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * The answer to an acquire: granted or not, why, how long until a retry can succeed, what remains on each limit,
 * and which limit bound it. Immutable; equal when every observable property is equal.
 *
 * <p>{@link #retryAfter()} is exact for {@link Reason#RATE_LIMITED}: retrying after it succeeds unless something
 * else consumed in between.
 */
public abstract sealed class Decision permits Decision.Granted, Decision.Full {

    /** Why a decision came out as it did. */
    public enum Reason {
        /** Every limit admitted the cost; it was charged. */
        GRANTED,
        /** A limit has too little left; nothing was charged. */
        RATE_LIMITED,
        /** Granted because the policy is in shadow mode, though a limit would have denied; nothing was charged. */
        SHADOW_DENIED,
        /** A waiting acquire gave up because the wait exceeded its deadline; nothing was charged. */
        DEADLINE_EXCEEDED,
        /** The backend could not be reached and its failure policy denies; nothing was charged. */
        BACKEND_UNAVAILABLE,
        /** The backend holds its maximum number of keys and cannot track a new one; nothing was charged. */
        KEY_LIMIT_REACHED,
        /** The answer to a refund: the units were given back. */
        REFUNDED
    }

    final Policy policy;

    private Decision(Policy policy) {
        this.policy = policy;
    }

    /**
     * A granted decision. For backends.
     *
     * @param remaining units left on each limit of {@code policy} after the charge, in policy order (not copied)
     * @param boundIndex the limit that bound the decision, or -1
     */
    public static Decision granted(Policy policy, long[] remaining, int boundIndex) {
        return new Full(true, Reason.GRANTED, 0, policy, remaining, boundIndex);
    }

    /** A granted decision for a policy of exactly one limit, with what remains on it. For backends. */
    public static Decision granted(Policy policy, long remaining) {
        checkSingle(policy);
        // Immutable, so shared: the grants that leave little, and those of a key at or near rest (a small charge on
        // a full limit), allocate nothing.
        long shortOfFull = policy.limit(0).maxCost() - remaining;
        int index;
        if (shortOfFull >= 0 && shortOfFull < Policy.CACHED_GRANTS) {
            index = Policy.CACHED_GRANTS + (int) shortOfFull;
        } else if (remaining >= 0 && remaining < Policy.CACHED_GRANTS) {
            index = (int) remaining;
        } else {
            return new Granted(policy, remaining);
        }
        Decision[] cache = policy.grants;
        Decision d = cache[index];
        if (d == null) {
            d = new Granted(policy, remaining);
            cache[index] = d; // racy but benign: every thread stores an equal, immutable decision
        }
        return d;
    }

    /** A rate-limited decision for a policy of exactly one limit. For backends. */
    public static Decision rateLimited(Policy policy, long retryAfterMicros, long remaining) {
        checkSingle(policy);
        return new Full(false, Reason.RATE_LIMITED, retryAfterMicros, policy, new long[] {remaining}, 0);
    }

    /**
     * A rate-limited decision. For backends.
     *
     * @param retryAfterMicros the exact wait until the same acquire would succeed, positive
     * @param remaining units left on each limit of {@code policy}, in policy order (not copied)
     * @param boundIndex the limit that needs the longest wait
     */
    public static Decision rateLimited(Policy policy, long retryAfterMicros, long[] remaining, int boundIndex) {
        return new Full(false, Reason.RATE_LIMITED, retryAfterMicros, policy, remaining, boundIndex);
    }

    /** The answer to a refund, with what remains after it. For backends. */
    public static Decision refunded(Policy policy, long[] remaining) {
        return new Full(true, Reason.REFUNDED, 0, policy, remaining, -1);
    }

    /**
     * A denial that is not about quota ({@link Reason#BACKEND_UNAVAILABLE}, {@link Reason#KEY_LIMIT_REACHED}):
     * nothing is known of what remains.
     *
     * @param retryAfterMicros a suggested wait, not a promise
     */
    public static Decision unavailable(Policy policy, Reason reason, long retryAfterMicros) {
        if (reason == Reason.GRANTED || reason == Reason.REFUNDED || reason == Reason.SHADOW_DENIED) {
            throw new IllegalArgumentException("not a denial reason: " + reason);
        }
        return new Full(false, reason, Math.max(0, retryAfterMicros), policy, null, -1);
    }

    private static void checkSingle(Policy policy) {
        if (policy.size() != 1) {
            throw new IllegalArgumentException("expected a policy of one limit, got " + policy);
        }
    }

    /** This denial as shadow mode reports it: granted, with the reason and wait it would have had. */
    public Decision asShadow() {
        if (granted()) {
            return this;
        }
        return new Full(true, Reason.SHADOW_DENIED, retryAfterMicros(), policy, remainingArray(), boundIndex());
    }

    /** This rate-limited decision, refused because its wait exceeded the caller's deadline. */
    public Decision asDeadlineExceeded() {
        if (reason() != Reason.RATE_LIMITED) {
            return this;
        }
        return new Full(false, Reason.DEADLINE_EXCEEDED, retryAfterMicros(), policy, remainingArray(), boundIndex());
    }

    /** Whether the caller may proceed (also true in shadow mode). */
    public abstract boolean granted();

    /** Why. */
    public abstract Reason reason();

    /** {@link #retryAfter()} in microseconds. */
    public abstract long retryAfterMicros();

    /** Units left on the limit at {@code index} of the policy, or -1 if unknown. */
    public abstract long remaining(int index);

    /** Whether {@link #remaining(int)} is known (not after a backend failure). */
    public abstract boolean hasRemaining();

    /** The index of {@link #boundBy()} in the policy, or -1. */
    public abstract int boundIndex();

    /** How long until the same acquire can succeed; zero when granted (except in shadow mode). */
    public Duration retryAfter() {
        return Duration.of(retryAfterMicros(), ChronoUnit.MICROS);
    }

    /** The policy this decision applied. */
    public Policy policy() {
        return policy;
    }

    /** Units left on {@code limit}, or -1 if unknown or not part of the policy. */
    public long remaining(Limit limit) {
        for (int i = 0; i < policy.size(); i++) {
            if (policy.limit(i).equals(limit)) {
                return remaining(i);
            }
        }
        return -1;
    }

    /**
     * The fewest units left on any limit of {@code dimension}, or -1 if unknown or no limit counts it.
     */
    public long remaining(String dimension) {
        long min = -1;
        for (int i = 0; i < policy.size(); i++) {
            if (policy.limit(i).dimension().equals(dimension)) {
                long r = remaining(i);
                min = min < 0 ? r : Math.min(min, r);
            }
        }
        return min;
    }

    /** The limit that bound this decision (the one needing the longest wait when denied), or null. */
    public @Nullable Limit boundBy() {
        int i = boundIndex();
        return i < 0 ? null : policy.limit(i);
    }

    private long @Nullable [] remainingArray() {
        if (!hasRemaining()) {
            return null;
        }
        long[] r = new long[policy.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = remaining(i);
        }
        return r;
    }

    @Override
    public final boolean equals(Object o) {
        return o instanceof Decision d
                && granted() == d.granted()
                && reason() == d.reason()
                && retryAfterMicros() == d.retryAfterMicros()
                && boundIndex() == d.boundIndex()
                && Arrays.equals(remainingArray(), d.remainingArray())
                && policy.equals(d.policy);
    }

    @Override
    public final int hashCode() {
        return (reason().hashCode() * 31 + Long.hashCode(retryAfterMicros())) * 31 + Arrays.hashCode(remainingArray());
    }

    @Override
    public final String toString() {
        long retry = retryAfterMicros();
        int bound = boundIndex();
        return "Decision{" + reason()
                + (retry > 0 ? ", retryAfter=" + retry + "µs" : "")
                + (hasRemaining() ? ", remaining=" + Arrays.toString(remainingArray()) : "")
                + (bound >= 0 ? ", boundBy=" + policy.limit(bound) : "")
                + "}";
    }

    /** The common case kept small: a grant under a policy of one limit. */
    static final class Granted extends Decision {
        private final long remaining;

        Granted(Policy policy, long remaining) {
            super(policy);
            this.remaining = remaining;
        }

        @Override
        public boolean granted() {
            return true;
        }

        @Override
        public Reason reason() {
            return Reason.GRANTED;
        }

        @Override
        public long retryAfterMicros() {
            return 0;
        }

        @Override
        public long remaining(int index) {
            if (index != 0) {
                throw new IndexOutOfBoundsException(index);
            }
            return remaining;
        }

        @Override
        public boolean hasRemaining() {
            return true;
        }

        @Override
        public int boundIndex() {
            return -1;
        }
    }

    /** Every other decision. */
    static final class Full extends Decision {
        private final boolean granted;
        private final Reason reason;
        private final long retryAfterMicros;
        private final long @Nullable [] remaining;
        private final int boundIndex;

        Full(boolean granted, Reason reason, long retryAfterMicros, Policy policy, long @Nullable [] remaining,
                int boundIndex) {
            super(policy);
            this.granted = granted;
            this.reason = reason;
            this.retryAfterMicros = retryAfterMicros;
            this.remaining = remaining;
            this.boundIndex = boundIndex;
        }

        @Override
        public boolean granted() {
            return granted;
        }

        @Override
        public Reason reason() {
            return reason;
        }

        @Override
        public long retryAfterMicros() {
            return retryAfterMicros;
        }

        @Override
        public long remaining(int index) {
            long[] r = remaining;
            if (r == null) {
                if (index < 0 || index >= policy.size()) {
                    throw new IndexOutOfBoundsException(index);
                }
                return -1;
            }
            return r[index];
        }

        @Override
        public boolean hasRemaining() {
            return remaining != null;
        }

        @Override
        public int boundIndex() {
            return boundIndex;
        }
    }
}

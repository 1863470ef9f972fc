package dev.sluice.api;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * The answer to an acquire: granted or not, why, how long until a retry can succeed, what remains on each limit,
 * and which limit bound it. Immutable.
 *
 * <p>{@link #retryAfter()} is exact for {@link Reason#RATE_LIMITED}: retrying after it succeeds unless something
 * else consumed in between.
 */
public final class Decision {

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

    private final boolean granted;
    private final Reason reason;
    private final long retryAfterMicros;
    private final Policy policy;
    private final long @Nullable [] remaining;
    private final long remainingOnly;
    private final int boundIndex;

    private Decision(boolean granted, Reason reason, long retryAfterMicros, Policy policy,
            long @Nullable [] remaining, int boundIndex) {
        this.granted = granted;
        this.reason = reason;
        this.retryAfterMicros = retryAfterMicros;
        this.policy = policy;
        this.remaining = remaining;
        this.remainingOnly = -1;
        this.boundIndex = boundIndex;
    }

    /** For a policy of one limit: what remains is one number, with no array. */
    private Decision(boolean granted, Reason reason, long retryAfterMicros, Policy policy, long remainingOnly,
            int boundIndex) {
        this.granted = granted;
        this.reason = reason;
        this.retryAfterMicros = retryAfterMicros;
        this.policy = policy;
        this.remaining = null;
        this.remainingOnly = remainingOnly;
        this.boundIndex = boundIndex;
    }

    /**
     * A granted decision. For backends.
     *
     * @param remaining units left on each limit of {@code policy} after the charge, in policy order (not copied)
     * @param boundIndex the limit with the fewest units left relative to its capacity, or -1
     */
    public static Decision granted(Policy policy, long[] remaining, int boundIndex) {
        return new Decision(true, Reason.GRANTED, 0, policy, remaining, boundIndex);
    }

    /** A granted decision for a policy of exactly one limit, with what remains on it. For backends. */
    public static Decision granted(Policy policy, long remaining) {
        checkSingle(policy);
        return new Decision(true, Reason.GRANTED, 0, policy, remaining, -1);
    }

    /** A rate-limited decision for a policy of exactly one limit. For backends. */
    public static Decision rateLimited(Policy policy, long retryAfterMicros, long remaining) {
        checkSingle(policy);
        return new Decision(false, Reason.RATE_LIMITED, retryAfterMicros, policy, remaining, 0);
    }

    private static void checkSingle(Policy policy) {
        if (policy.size() != 1) {
            throw new IllegalArgumentException("expected a policy of one limit, got " + policy);
        }
    }

    /**
     * A rate-limited decision. For backends.
     *
     * @param retryAfterMicros the exact wait until the same acquire would succeed, positive
     * @param remaining units left on each limit of {@code policy}, in policy order (not copied)
     * @param boundIndex the limit that needs the longest wait
     */
    public static Decision rateLimited(Policy policy, long retryAfterMicros, long[] remaining, int boundIndex) {
        return new Decision(false, Reason.RATE_LIMITED, retryAfterMicros, policy, remaining, boundIndex);
    }

    /** The answer to a refund, with what remains after it. For backends. */
    public static Decision refunded(Policy policy, long[] remaining) {
        return new Decision(true, Reason.REFUNDED, 0, policy, remaining, -1);
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
        return new Decision(false, reason, Math.max(0, retryAfterMicros), policy, null, -1);
    }

    /** This denial as shadow mode reports it: granted, with the reason and wait it would have had. */
    public Decision asShadow() {
        if (granted) {
            return this;
        }
        return copy(true, Reason.SHADOW_DENIED);
    }

    /** This rate-limited decision, refused because its wait exceeded the caller's deadline. */
    public Decision asDeadlineExceeded() {
        if (reason != Reason.RATE_LIMITED) {
            return this;
        }
        return copy(false, Reason.DEADLINE_EXCEEDED);
    }

    private Decision copy(boolean granted, Reason reason) {
        return remaining == null && remainingOnly >= 0
                ? new Decision(granted, reason, retryAfterMicros, policy, remainingOnly, boundIndex)
                : new Decision(granted, reason, retryAfterMicros, policy, remaining, boundIndex);
    }

    /** Whether the caller may proceed (also true in shadow mode). */
    public boolean granted() {
        return granted;
    }

    /** Why. */
    public Reason reason() {
        return reason;
    }

    /** How long until the same acquire can succeed; zero when granted (except in shadow mode). */
    public Duration retryAfter() {
        return Duration.of(retryAfterMicros, ChronoUnit.MICROS);
    }

    /** {@link #retryAfter()} in microseconds. */
    public long retryAfterMicros() {
        return retryAfterMicros;
    }

    /** The policy this decision applied. */
    public Policy policy() {
        return policy;
    }

    /** Whether {@link #remaining(int)} is known (not after a backend failure). */
    public boolean hasRemaining() {
        return remaining != null || remainingOnly >= 0;
    }

    /** Units left on the limit at {@code index} of the policy, or -1 if unknown. */
    public long remaining(int index) {
        long[] all = remaining;
        if (all != null) {
            return all[index];
        }
        if (index < 0 || index >= policy.size()) {
            throw new IndexOutOfBoundsException(index);
        }
        return remainingOnly;
    }

    private long @Nullable [] remainingArray() {
        if (remaining != null || remainingOnly < 0) {
            return remaining;
        }
        return new long[] {remainingOnly};
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

    /**
     * The limit that bound this decision: the one that needs the longest wait when denied, the one with the fewest
     * units left relative to its capacity when granted, or null.
     */
    public @Nullable Limit boundBy() {
        return boundIndex < 0 ? null : policy.limit(boundIndex);
    }

    /** The index of {@link #boundBy()} in the policy, or -1. */
    public int boundIndex() {
        return boundIndex;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Decision d
                && granted == d.granted
                && reason == d.reason
                && retryAfterMicros == d.retryAfterMicros
                && boundIndex == d.boundIndex
                && Arrays.equals(remainingArray(), d.remainingArray())
                && policy.equals(d.policy);
    }

    @Override
    public int hashCode() {
        return (reason.hashCode() * 31 + Long.hashCode(retryAfterMicros)) * 31 + Arrays.hashCode(remainingArray());
    }

    @Override
    public String toString() {
        return "Decision{" + reason
                + (retryAfterMicros > 0 ? ", retryAfter=" + retryAfterMicros + "µs" : "")
                + (hasRemaining() ? ", remaining=" + Arrays.toString(remainingArray()) : "")
                + (boundIndex >= 0 ? ", boundBy=" + policy.limit(boundIndex) : "")
                + "}";
    }
}

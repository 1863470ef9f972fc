package dev.sluice.api;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The limits that apply together to one key, for example 15 requests per minute + 1,000,000 tokens per minute +
 * 1,500 requests per day. A policy is acquired atomically: a call is granted only if every limit admits its cost,
 * and then every limit is charged; otherwise nothing is charged. Immutable.
 *
 * <p>A policy in {@linkplain #shadow() shadow mode} is computed and reported but never denies for quota: use it to
 * roll out a new policy and watch what it would have refused ({@link Decision.Reason#SHADOW_DENIED}). Denials that
 * are not about quota ({@link Decision.Reason#BACKEND_UNAVAILABLE} under a fail-closed backend,
 * {@link Decision.Reason#KEY_LIMIT_REACHED}) still deny: the backend, not the policy, refused.
 */
public final class Policy {

    /** The most limits one policy may hold. */
    public static final int MAX_LIMITS = 16;

    /**
     * How many single-limit grant decisions a policy keeps for reuse at each end of its limit: those that leave
     * {@code 0..n-1} units, and those that leave {@code maxCost-n+1..maxCost}, as a small charge on a key at or near
     * rest does.
     */
    static final int CACHED_GRANTS = 64;

    private final Limit[] limits;
    /**
     * Shared grant decisions of a single-limit policy: at {@code i < CACHED_GRANTS} the one leaving {@code i} units,
     * at {@code CACHED_GRANTS + i} the one leaving {@code maxCost − i}. Filled lazily, racy but benign (decisions are
     * immutable).
     */
    final Decision[] grants;
    private final boolean shadow;
    private final long maxPeriodMicros;
    private final long restMicros;
    private final String[] dimensions;
    /** Backends key caches by policy on every call: the hash is computed once. */
    private final int hash;

    private Policy(Limit[] limits, boolean shadow) {
        this.limits = limits;
        this.shadow = shadow;
        this.grants = new Decision[limits.length == 1 ? 2 * CACHED_GRANTS : 0];
        long max = 0;
        long rest = 0;
        Set<String> dims = new HashSet<>();
        List<String> ordered = new ArrayList<>();
        for (Limit l : limits) {
            max = Math.max(max, l.periodMicros());
            rest = Math.max(rest, restMicros(l));
            if (dims.add(l.dimension())) {
                ordered.add(l.dimension());
            }
        }
        this.maxPeriodMicros = max;
        this.restMicros = rest;
        this.dimensions = ordered.toArray(String[]::new);
        this.hash = 31 * Arrays.hashCode(limits) + (shadow ? 1 : 0);
    }

    /**
     * A policy of these limits, in this order.
     *
     * @throws IllegalArgumentException if there are no limits, more than {@link #MAX_LIMITS}, a null limit, or the
     *     same limit twice
     */
    public static Policy of(Limit... limits) {
        if (limits == null || limits.length == 0) {
            throw new IllegalArgumentException("a policy needs at least one limit");
        }
        if (limits.length > MAX_LIMITS) {
            throw new IllegalArgumentException(
                    "a policy holds at most " + MAX_LIMITS + " limits, was given " + limits.length);
        }
        Limit[] copy = limits.clone();
        Set<Limit> seen = new HashSet<>();
        for (Limit l : copy) {
            if (l == null) {
                throw new IllegalArgumentException("a policy's limits must not be null: " + Arrays.toString(limits));
            }
            if (!seen.add(l)) {
                throw new IllegalArgumentException("limit appears twice in a policy: " + l);
            }
        }
        return new Policy(copy, false);
    }

    /** A policy of these limits; see {@link #of(Limit...)}. */
    public static Policy of(List<Limit> limits) {
        if (limits == null) {
            throw new IllegalArgumentException("a policy needs at least one limit, was given null");
        }
        return of(limits.toArray(Limit[]::new));
    }

    /** This policy in shadow mode (or out of it): decisions are computed and reported, never enforced. */
    public Policy withShadow(boolean shadow) {
        return shadow == this.shadow ? this : new Policy(limits, shadow);
    }

    /** The limits, in the order given. */
    public List<Limit> limits() {
        return List.of(limits);
    }

    /** The number of limits. */
    public int size() {
        return limits.length;
    }

    /** The limit at {@code index}, in the order given. */
    public Limit limit(int index) {
        return limits[index];
    }

    /** Whether this policy only reports what it would deny. */
    public boolean shadow() {
        return shadow;
    }

    /** Whether some limit of this policy counts {@code dimension}. */
    public boolean hasDimension(String dimension) {
        for (String d : dimensions) {
            if (d.equals(dimension)) {
                return true;
            }
        }
        return false;
    }

    /** The distinct dimensions of this policy, in order of first appearance. */
    public List<String> dimensions() {
        return List.of(dimensions);
    }

    /**
     * The longest period of any limit, in microseconds. Not how long a key takes to come to rest: a token bucket or
     * GCRA whose burst exceeds its capacity takes several periods; see {@link #restMicros()}.
     */
    public long maxPeriodMicros() {
        return maxPeriodMicros;
    }

    /**
     * The longest a key of this policy takes to come to rest after its fullest use, in microseconds: after that long
     * idle its state is worth nothing, and no acquire of a cost every limit admits waits longer (the clock going
     * forward). A period for the fixed window and the sliding log, two for the sliding-window counter,
     * {@code ⌈burst × period / capacity⌉} for the token bucket and GCRA.
     */
    public long restMicros() {
        return restMicros;
    }

    private static long restMicros(Limit l) {
        long p = l.periodMicros();
        return switch (l.algorithm()) {
            case FIXED_WINDOW, SLIDING_LOG -> p;
            case SLIDING_WINDOW_COUNTER -> p > Long.MAX_VALUE / 2 ? Long.MAX_VALUE : 2 * p;
            case TOKEN_BUCKET, GCRA -> {
                long whole = l.burst() * p; // at most 2^62: Limit bounds it
                long q = whole / l.capacity();
                yield q * l.capacity() == whole ? q : q + 1;
            }
        };
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Policy p && shadow == p.shadow && Arrays.equals(limits, p.limits);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public String toString() {
        return "Policy" + Arrays.toString(limits) + (shadow ? " (shadow)" : "");
    }
}

package dev.sluice.core;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.api.spi.LimiterBackend;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * What a shared backend (Redis, Hazelcast) decides while its server cannot answer, by its {@link FailurePolicy}:
 * written once here so that every shared backend fails the same way. Thread-safe.
 */
public final class OutageDecisions {

    private final FailurePolicy policy;
    private final long retryAfterMicros;
    private final @Nullable LimiterBackend local;
    private final double share;
    private final Map<Policy, Policy> shares = new ConcurrentHashMap<>();

    private OutageDecisions(FailurePolicy policy, long retryAfterMicros, @Nullable LimiterBackend local,
            double share) {
        this.policy = policy;
        this.retryAfterMicros = retryAfterMicros;
        this.local = local;
        this.share = share;
    }

    /**
     * Deny with {@link Decision.Reason#BACKEND_UNAVAILABLE}, suggesting a retry after {@code retryAfterMicros}.
     *
     * @throws IllegalArgumentException if the suggestion is negative
     */
    public static OutageDecisions failClosed(long retryAfterMicros) {
        if (retryAfterMicros < 0) {
            throw new IllegalArgumentException("retryAfterMicros must not be negative, was " + retryAfterMicros);
        }
        return new OutageDecisions(FailurePolicy.FAIL_CLOSED, retryAfterMicros, null, 1);
    }

    /** Grant everything. */
    public static OutageDecisions failOpen() {
        return new OutageDecisions(FailurePolicy.FAIL_OPEN, 0, null, 1);
    }

    /**
     * Decide on {@code local} with {@code share} of every limit's capacity and burst (at least 1 unit each), for
     * example 1/N for N instances; a cost larger than the shared-out limit is clipped to it.
     *
     * @throws IllegalArgumentException unless {@code 0 < share ≤ 1}
     */
    public static OutageDecisions localFallback(LimiterBackend local, double share) {
        if (!(share > 0 && share <= 1)) {
            throw new IllegalArgumentException("share must be in (0, 1], was " + share);
        }
        return new OutageDecisions(FailurePolicy.LOCAL_FALLBACK, 0, Objects.requireNonNull(local, "local"), share);
    }

    /** The failure policy this applies. */
    public FailurePolicy policy() {
        return policy;
    }

    /** The decision for an acquire that the server could not take. */
    public Decision acquire(String key, Policy policy, Cost cost) {
        return switch (this.policy) {
            case FAIL_OPEN -> policy.size() == 1 ? Decision.granted(policy, policy.limit(0).maxCost())
                    : Decision.granted(policy, full(policy), -1);
            case LOCAL_FALLBACK -> {
                Policy shared = shares.computeIfAbsent(policy, this::share);
                yield translate(Objects.requireNonNull(local).acquire(key, shared, clip(cost, shared)), policy);
            }
            case FAIL_CLOSED -> Decision.unavailable(policy, Decision.Reason.BACKEND_UNAVAILABLE, retryAfterMicros);
        };
    }

    /** The answer to a refund that the server could not take (the local share gets it back under LOCAL_FALLBACK). */
    public Decision refund(String key, Policy policy, Cost cost) {
        if (this.policy == FailurePolicy.LOCAL_FALLBACK) {
            Policy shared = shares.computeIfAbsent(policy, this::share);
            return translate(Objects.requireNonNull(local).refund(key, shared, clip(cost, shared)), policy);
        }
        return Decision.refunded(policy, full(policy));
    }

    /** A decision on the shared-out policy, reported against the policy the caller asked for. */
    private static Decision translate(Decision d, Policy policy) {
        long[] remaining = new long[policy.size()];
        for (int i = 0; i < remaining.length; i++) {
            remaining[i] = d.remaining(i);
        }
        if (d.reason() == Decision.Reason.REFUNDED) {
            return Decision.refunded(policy, remaining);
        }
        if (d.granted()) {
            return policy.size() == 1 ? Decision.granted(policy, remaining[0]) : Decision.granted(policy, remaining, -1);
        }
        if (d.reason() == Decision.Reason.RATE_LIMITED) {
            return Decision.rateLimited(policy, d.retryAfterMicros(), remaining, d.boundIndex());
        }
        return Decision.unavailable(policy, d.reason(), d.retryAfterMicros());
    }

    private Policy share(Policy policy) {
        Limit[] limits = new Limit[policy.size()];
        for (int i = 0; i < limits.length; i++) {
            Limit l = policy.limit(i);
            Limit s = Limit.of(l.dimension(), Math.max(1, (long) Math.floor(l.capacity() * share)), l.period(),
                    l.algorithm());
            if (l.algorithm().hasBurst()) {
                s = s.withBurst(Math.max(1, (long) Math.floor(l.burst() * share)));
            }
            limits[i] = s;
        }
        return Policy.of(limits).withShadow(policy.shadow());
    }

    private static Cost clip(Cost cost, Policy shared) {
        Cost out = null;
        for (int i = 0; i < cost.size(); i++) {
            String dim = cost.dimension(i);
            long max = Long.MAX_VALUE;
            for (Limit l : shared.limits()) {
                if (l.dimension().equals(dim)) {
                    max = Math.min(max, l.maxCost());
                }
            }
            long units = Math.min(cost.units(i), max);
            out = out == null ? Cost.of(dim, units) : out.and(dim, units);
        }
        return Objects.requireNonNull(out, "an empty cost");
    }

    private static long[] full(Policy policy) {
        long[] r = new long[policy.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = policy.limit(i).maxCost();
        }
        return r;
    }
}

package dev.sluice.core.engine;

import dev.sluice.api.Policy;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * The state of one key: the policy it was last written under and one {@link LimitState} per limit of that policy
 * ({@code null} where a limit is fresh). Immutable; the array is never modified after construction.
 */
public final class PolicyState {

    private final Policy policy;
    private final @Nullable LimitState @Nullable [] limits;
    private final @Nullable LimitState only;

    /** A state for {@code policy}; {@code limits} must have one entry per limit and is kept, not copied. */
    public PolicyState(Policy policy, @Nullable LimitState[] limits) {
        if (limits.length != policy.size()) {
            throw new IllegalArgumentException(
                    "expected " + policy.size() + " limit states, got " + limits.length + " for " + policy);
        }
        this.policy = policy;
        this.limits = limits.length == 1 ? null : limits;
        this.only = limits.length == 1 ? limits[0] : null;
    }

    /** A state for a policy of one limit (no array: the common case stays small). */
    public PolicyState(Policy policy, @Nullable LimitState only) {
        if (policy.size() != 1) {
            throw new IllegalArgumentException("expected a policy of one limit, got " + policy);
        }
        this.policy = policy;
        this.limits = null;
        this.only = only;
    }

    /** The policy this state was written under. */
    public Policy policy() {
        return policy;
    }

    /** The state of the limit at {@code index}, or null if that limit is fresh. */
    public @Nullable LimitState limit(int index) {
        LimitState[] all = limits;
        if (all == null) {
            if (index != 0) {
                throw new IndexOutOfBoundsException(index);
            }
            return only;
        }
        return all[index];
    }

    /** The number of limits. */
    public int size() {
        return policy.size();
    }

    private @Nullable LimitState[] all() {
        LimitState[] all = limits;
        return all != null ? all : new LimitState[] {only};
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PolicyState s && policy.equals(s.policy) && Arrays.equals(all(), s.all());
    }

    @Override
    public int hashCode() {
        return 31 * policy.hashCode() + Arrays.hashCode(all());
    }

    @Override
    public String toString() {
        return "PolicyState" + Arrays.toString(all());
    }
}

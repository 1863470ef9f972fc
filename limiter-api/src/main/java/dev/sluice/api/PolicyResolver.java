package dev.sluice.api;

/**
 * Chooses the policy of a key, for example by tenant or by model. It may return a different policy over time: what a
 * key has already consumed carries over to the new policy instead of resetting to full.
 */
@FunctionalInterface
public interface PolicyResolver {

    /** The policy that applies to {@code key} now. Must not be null; should be fast (it runs on every acquire). */
    Policy policyFor(String key);

    /** The same policy for every key. */
    static PolicyResolver fixed(Policy policy) {
        if (policy == null) {
            throw new IllegalArgumentException("policy must not be null");
        }
        return key -> policy;
    }
}

package dev.sluice.api.spi;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;

/**
 * Stores each key's limiter state and applies the reference algorithms to it atomically: one compare-and-set in
 * memory, one script call in Redis, one entry processor in Hazelcast. Thread-safe.
 *
 * <p>Callers (the limiter in {@code limiter-core}) validate keys and costs before calling: the key is non-empty and
 * every dimension of the cost is counted by the policy, within every limit's largest cost.
 */
public interface LimiterBackend extends AutoCloseable {

    /**
     * Grants and charges {@code cost} on every limit of {@code policy} for {@code key}, or charges nothing and
     * returns the exact wait. If the key's state was last written under another policy, what it consumed carries over.
     */
    Decision acquire(String key, Policy policy, Cost cost);

    /** Gives {@code cost} back to every limit of {@code policy} for {@code key}, never beyond a fresh state. */
    Decision refund(String key, Policy policy, Cost cost);

    /** The number of keys holding state now, or -1 if the backend cannot tell cheaply. */
    long liveKeys();

    /** Releases what the backend owns (not clients it was given). */
    @Override
    void close();
}

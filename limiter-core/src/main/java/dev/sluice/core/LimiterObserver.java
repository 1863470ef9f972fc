package dev.sluice.core;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;

/**
 * Told of every final decision a {@link SluiceLimiter} returns (not of the intermediate attempts of a wait), so that
 * metrics, logs or audits can follow without the limiter knowing them. Called on the caller's thread: keep it fast.
 * The key is deliberately not passed: keys may identify tenants or carry secrets.
 */
public interface LimiterObserver {

    /** An observer that does nothing. */
    LimiterObserver NONE = new LimiterObserver() {
    };

    /**
     * A decision was returned.
     *
     * @param waitedMicros how long a blocking or async acquire waited before this decision, or -1 for
     *     {@code tryAcquire}, which never waits
     */
    default void onDecision(Policy policy, Cost cost, Decision decision, long waitedMicros) {
    }

    /** Units were given back. */
    default void onRefund(Policy policy, Cost cost) {
    }
}

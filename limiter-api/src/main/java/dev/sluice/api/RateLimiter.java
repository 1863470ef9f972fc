package dev.sluice.api;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * Admits calls within the limits of each key's {@link Policy}. Thread-safe. Every method validates its arguments
 * before touching any state: a bad key, a cost naming a dimension the policy does not count, or a cost no limit could
 * ever admit throws {@link IllegalArgumentException} and charges nothing.
 */
public interface RateLimiter extends AutoCloseable {

    /**
     * Answers at once: grants and charges {@code cost} if every limit admits it, otherwise charges nothing and says
     * how long until it would succeed. Never blocks.
     *
     * @throws IllegalArgumentException if the key is null or empty, or the cost cannot apply to the key's policy
     */
    Decision tryAcquire(String key, Cost cost);

    /**
     * Waits up to {@code maxWait} for {@code cost} to be granted (Sluice's counts it from the first refusal: a look
     * at the backend is not waiting, so a remote backend's round trips come on top). A wait that would exceed
     * {@code maxWait} is refused at once with {@link Decision.Reason#DEADLINE_EXCEEDED} and the predicted wait;
     * otherwise the thread sleeps for the exact predicted wait, or less if the implementation wakes it when quota
     * comes back (Sluice's does on a refund), and again if another caller took the quota meanwhile.
     *
     * @throws IllegalArgumentException as {@link #tryAcquire}, or if {@code maxWait} is negative
     * @throws InterruptedException if the thread is interrupted while waiting; nothing is charged then
     */
    Decision acquire(String key, Cost cost, Duration maxWait) throws InterruptedException;

    /**
     * As {@link #acquire}, without holding a thread while waiting: retries are scheduled on a shared scheduler.
     * Cancelling the future before it completes stops the wait; a grant that races with the cancellation is refunded.
     *
     * @throws IllegalArgumentException as {@link #acquire}
     */
    CompletableFuture<Decision> acquireAsync(String key, Cost cost, Duration maxWait);

    /**
     * Gives back units that were granted but not used, for example when a call used fewer tokens than reserved. A
     * limit never holds more than it could when fresh. A refund carries no grant time: it is credited to the key's
     * state now, so a refund after a window rolled over (fixed window, sliding-window counter) or a bucket refilled
     * credits the new window or bucket, not the one the grant was charged to. Refund promptly.
     *
     * @throws IllegalArgumentException as {@link #tryAcquire}
     */
    Decision refund(String key, Cost cost);

    /** Releases what this limiter owns (not the backend it was given). */
    @Override
    void close();
}

package dev.sluice.core.queue;

import dev.sluice.api.queue.Job;

/**
 * Runs one job once the limiter admitted it; its result completes the submitter's future. A job may be delivered
 * more than once (at-least-once), so a handler must be idempotent, for example by the job's idempotency key.
 *
 * @param <R> the result type
 */
@FunctionalInterface
public interface JobHandler<R> {

    /**
     * Runs {@code job}. Returning acks it; throwing gives it back for another delivery, until the queue's
     * {@code maxDeliveries} is reached and it is dead-lettered.
     */
    R handle(Job job) throws Exception;
}

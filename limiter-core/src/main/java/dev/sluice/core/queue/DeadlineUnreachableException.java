package dev.sluice.core.queue;

import java.time.Duration;
import java.time.temporal.ChronoUnit;

/**
 * Completes a job's future when its deadline passed in the queue, or when the limiter's predicted wait would end after
 * it: the job is removed at once instead of waiting and failing later.
 */
public final class DeadlineUnreachableException extends RuntimeException {

    private final long predictedWaitMicros;

    /** An exception for a job whose deadline is missed by waiting {@code predictedWaitMicros} (0 if already past). */
    public DeadlineUnreachableException(String jobId, long predictedWaitMicros) {
        super(predictedWaitMicros == 0 ? "job " + jobId + " passed its deadline in the queue"
                : "job " + jobId + " would wait " + predictedWaitMicros + " µs for the limiter, past its deadline");
        this.predictedWaitMicros = predictedWaitMicros;
    }

    /** The limiter's predicted wait; zero if the deadline had passed already. */
    public Duration predictedWait() {
        return Duration.of(predictedWaitMicros, ChronoUnit.MICROS);
    }
}

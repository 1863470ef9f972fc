package dev.sluice.api.queue;

import java.time.Duration;
import java.util.Objects;

/** The settings every {@link JobQueue} builder checks, in one place so that all queues refuse bad values alike. */
public final class QueueArguments {

    private QueueArguments() {
    }

    /**
     * Returns {@code lease} if it is at least 1 ms.
     *
     * @throws IllegalArgumentException naming the value otherwise
     */
    public static Duration leaseDuration(Duration lease) {
        if (Objects.requireNonNull(lease, "lease").toMillis() < 1) {
            throw new IllegalArgumentException("lease must be at least 1 ms, was " + lease);
        }
        return lease;
    }

    /**
     * Returns {@code maxDeliveries} if it is positive.
     *
     * @throws IllegalArgumentException naming the value otherwise
     */
    public static int maxDeliveries(int maxDeliveries) {
        if (maxDeliveries < 1) {
            throw new IllegalArgumentException("maxDeliveries must be positive, was " + maxDeliveries);
        }
        return maxDeliveries;
    }

    /**
     * Returns {@code value} if it is positive.
     *
     * @throws IllegalArgumentException naming {@code what} and the value otherwise
     */
    public static long positive(String what, long value) {
        if (value < 1) {
            throw new IllegalArgumentException(what + " must be positive, was " + value);
        }
        return value;
    }

    /**
     * Returns {@code window} if it is not negative.
     *
     * @throws IllegalArgumentException naming the value otherwise
     */
    public static Duration idempotencyWindow(Duration window) {
        if (Objects.requireNonNull(window, "window").isNegative()) {
            throw new IllegalArgumentException("idempotency window must not be negative, was " + window);
        }
        return window;
    }
}

package dev.sluice.core.queue;

import dev.sluice.api.queue.Priority;

/** Hears what a {@link Dispatcher} does with jobs; called on the dispatcher's threads, so it must be quick. */
public interface QueueObserver {

    /** An observer that does nothing. */
    QueueObserver NONE = new QueueObserver() { };

    /** How a job left the dispatcher's hands. */
    enum Outcome {
        /** The handler returned; the job was acked. */
        DONE,
        /** The handler threw (or the cost can never be admitted); the job was given back for another delivery. */
        FAILED,
        /** The handler threw on the last delivery; the queue dead-letters the job. */
        DEAD_LETTERED,
        /** Its deadline passed, or the limiter's predicted wait would pass it; the job was removed. */
        EXPIRED,
        /** Its caller cancelled it; the job was removed. */
        CANCELLED
    }

    /** A job starts after waiting {@code waitedMicros} since it was enqueued. */
    default void onStart(Priority priority, long waitedMicros) {
    }

    /** A job left the dispatcher's hands. */
    default void onOutcome(Priority priority, Outcome outcome) {
    }

    /** Both observers, {@code a} first. */
    static QueueObserver tee(QueueObserver a, QueueObserver b) {
        return new QueueObserver() {
            @Override
            public void onStart(Priority priority, long waitedMicros) {
                a.onStart(priority, waitedMicros);
                b.onStart(priority, waitedMicros);
            }

            @Override
            public void onOutcome(Priority priority, Outcome outcome) {
                a.onOutcome(priority, outcome);
                b.onOutcome(priority, outcome);
            }
        };
    }
}

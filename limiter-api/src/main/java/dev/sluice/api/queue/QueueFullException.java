package dev.sluice.api.queue;

/** Thrown by {@link JobQueue#enqueue} when the queue holds its maximum number of unfinished jobs. */
public final class QueueFullException extends RuntimeException {

    /** An exception with {@code message}. */
    public QueueFullException(String message) {
        super(message);
    }
}

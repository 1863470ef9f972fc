package dev.sluice.governor;

/**
 * A governed call that could not be made: its cost can never fit the limits, its wait for quota would exceed the
 * governor's maximum, every key of its pool is out for the day, or the upstream failed on every attempt.
 */
public final class GovernorException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** Why. */
    public enum Reason {
        /** The call costs more than a limit can ever admit. */
        TOO_LARGE,
        /** Waiting for quota or a cooldown would exceed the maximum wait. */
        DEADLINE_EXCEEDED,
        /** The upstream failed (exception) on every attempt. */
        UPSTREAM_FAILED
    }

    private final Reason reason;

    /** A failure for {@code reason}. */
    public GovernorException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    /** A failure for {@code reason}. */
    public GovernorException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    /** Why. */
    public Reason reason() {
        return reason;
    }
}

package dev.sluice.api.queue;

/** A job's priority class. Every visible job of a higher class is taken before any of a lower one. */
public enum Priority {
    /** Taken first, for example interactive calls a user waits for. */
    HIGH,
    /** The default. */
    NORMAL,
    /** Taken only when no higher class has visible work, for example batch jobs. */
    LOW
}

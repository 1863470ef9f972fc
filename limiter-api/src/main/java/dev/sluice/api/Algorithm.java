package dev.sluice.api;

/**
 * The algorithms a {@link Limit} can use. Each has one reference implementation in {@code limiter-core}; every
 * backend reproduces its decisions exactly.
 */
public enum Algorithm {
    /**
     * Counts units per aligned window of one period (windows start at multiples of the period since the epoch).
     * Cheapest state, but a burst straddling a window edge can admit up to twice the capacity within one period:
     * documented behaviour, not a bug.
     */
    FIXED_WINDOW,
    /**
     * Remembers every grant of the last period; exact: never more than the capacity in any period-long window.
     * State grows with the number of grants in a period, so it suits small limits (requests per minute).
     */
    SLIDING_LOG,
    /**
     * Two aligned windows, the previous one weighted by how much of it still overlaps the sliding period. Constant
     * state; an approximation of the sliding log that never admits more than the capacity in one aligned window.
     */
    SLIDING_WINDOW_COUNTER,
    /**
     * A bucket of {@code burst} units refilled continuously at {@code capacity} per period. Admits at most
     * {@code burst + capacity * w / period} units in any window of length {@code w}.
     */
    TOKEN_BUCKET,
    /**
     * The generic cell rate algorithm (a leaky bucket used as a meter): one timestamp of state, the same bound as the
     * token bucket. With the default burst of 1 it spaces grants evenly and never exceeds the capacity in any window.
     */
    GCRA;

    /** Whether {@link Limit#withBurst(long)} applies to this algorithm. */
    public boolean hasBurst() {
        return this == TOKEN_BUCKET || this == GCRA;
    }
}

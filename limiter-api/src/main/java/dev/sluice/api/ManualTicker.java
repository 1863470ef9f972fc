package dev.sluice.api;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/** A {@link Ticker} that moves only when told to; thread-safe. For tests and simulations. */
public final class ManualTicker implements Ticker {

    private final AtomicLong micros;

    /** A ticker starting at {@code startMicros}. */
    public ManualTicker(long startMicros) {
        this.micros = new AtomicLong(startMicros);
    }

    /** A ticker starting at 1,000,000,000 µs (an arbitrary non-zero origin, so that no test depends on zero). */
    public ManualTicker() {
        this(1_000_000_000L);
    }

    @Override
    public long nowMicros() {
        return micros.get();
    }

    /**
     * Moves time forward by {@code duration} (truncated to whole microseconds).
     *
     * @throws IllegalArgumentException if the duration is negative
     */
    public void advance(Duration duration) {
        if (duration.isNegative()) {
            throw new IllegalArgumentException("time moves forward only, duration was " + duration);
        }
        advanceMicros(duration.toNanos() / 1000);
    }

    /**
     * Moves time forward by {@code delta} microseconds.
     *
     * @throws IllegalArgumentException if {@code delta} is negative
     */
    public void advanceMicros(long delta) {
        if (delta < 0) {
            throw new IllegalArgumentException("time moves forward only, delta was " + delta);
        }
        micros.addAndGet(delta);
    }

    /** Sets the time, also backwards (to test how algorithms treat a clock that steps back). */
    public void set(long nowMicros) {
        micros.set(nowMicros);
    }

    @Override
    public String toString() {
        return "ManualTicker[" + micros.get() + "µs]";
    }
}

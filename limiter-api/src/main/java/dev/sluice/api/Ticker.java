package dev.sluice.api;

/**
 * A source of time in microseconds. It exists so that every algorithm reads time from one injectable place: tests
 * pass a {@link ManualTicker} and never sleep, distributed backends may use their server's clock instead.
 */
@FunctionalInterface
public interface Ticker {

    /** The current time in microseconds. Only differences and alignment to period multiples matter. */
    long nowMicros();

    /**
     * Microseconds since the Unix epoch, anchored to the wall clock once and then advanced by
     * {@link System#nanoTime()}: monotonic, so a wall-clock step never moves it backwards.
     */
    static Ticker system() {
        return SystemTicker.INSTANCE;
    }
}

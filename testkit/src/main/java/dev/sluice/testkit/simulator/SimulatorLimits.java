package dev.sluice.testkit.simulator;

import java.time.Duration;
import java.util.Objects;

/**
 * The limits a {@link ProviderSimulator} enforces on each API key, each over an exact sliding window: a request is
 * admitted only if, counting it, no window holds more than its capacity. Zero means "no limit" on that dimension.
 * Tokens are counted as the request's actual usage (prompt + completion), charged when the request is admitted.
 *
 * @param requests requests per {@code window}
 * @param tokens tokens (prompt + completion) per {@code window}
 * @param window the short window, one minute at real providers; tests scale it to a second
 * @param requestsPerDay requests per {@code dayWindow}
 * @param dayWindow the long window, one day at real providers
 * @param concurrent requests in progress at once
 */
public record SimulatorLimits(long requests, long tokens, Duration window, long requestsPerDay, Duration dayWindow,
        int concurrent) {

    /** Validates. */
    public SimulatorLimits {
        Objects.requireNonNull(window, "window");
        Objects.requireNonNull(dayWindow, "dayWindow");
        if (requests < 0 || tokens < 0 || requestsPerDay < 0 || concurrent < 0) {
            throw new IllegalArgumentException("limits must be zero (none) or positive");
        }
        if (window.isNegative() || window.isZero() || dayWindow.isNegative() || dayWindow.isZero()) {
            throw new IllegalArgumentException("windows must be positive");
        }
    }

    /** No limit at all. */
    public static SimulatorLimits none() {
        return new SimulatorLimits(0, 0, Duration.ofMinutes(1), 0, Duration.ofDays(1), 0);
    }

    /** Per-minute requests and tokens, no daily or concurrency limit. */
    public static SimulatorLimits perMinute(long requests, long tokens) {
        return new SimulatorLimits(requests, tokens, Duration.ofMinutes(1), 0, Duration.ofDays(1), 0);
    }

    /** These limits with another short window (for scaled tests: per second instead of per minute). */
    public SimulatorLimits withWindow(Duration window) {
        return new SimulatorLimits(requests, tokens, window, requestsPerDay, dayWindow, concurrent);
    }

    /** These limits with a daily request limit over {@code dayWindow}. */
    public SimulatorLimits withRequestsPerDay(long requestsPerDay, Duration dayWindow) {
        return new SimulatorLimits(requests, tokens, window, requestsPerDay, dayWindow, concurrent);
    }

    /** These limits with a concurrency limit. */
    public SimulatorLimits withConcurrent(int concurrent) {
        return new SimulatorLimits(requests, tokens, window, requestsPerDay, dayWindow, concurrent);
    }

    /** These limits scaled by {@code factor} (rounded down, at least 1 where a limit was set). */
    public SimulatorLimits scaled(double factor) {
        return new SimulatorLimits(scale(requests, factor), scale(tokens, factor), window,
                scale(requestsPerDay, factor), dayWindow, (int) scale(concurrent, factor));
    }

    private static long scale(long v, double f) {
        return v == 0 ? 0 : Math.max(1, (long) Math.floor(v * f));
    }
}

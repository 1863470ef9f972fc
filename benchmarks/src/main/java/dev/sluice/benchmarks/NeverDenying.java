package dev.sluice.benchmarks;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Limit;
import java.time.Duration;

/** The limits every throughput benchmark uses: one per algorithm, at a rate no run here reaches. */
final class NeverDenying {

    /**
     * One billion per second, burst one billion: beyond any thread here, within exact Lua arithmetic
     * (burst × period below 2^53), and the most Bucket4j accepts (one per nanosecond).
     */
    static final long RATE = 1_000_000_000L;

    private NeverDenying() {
    }

    /**
     * A limit of {@code algorithm} that never denies. The sliding log holds one entry per granting microsecond of a
     * period, so its period is 1 ms; GCRA gets the token bucket's burst, because time is whole microseconds and a
     * burst of 1 would admit one call per microsecond.
     */
    static Limit limit(Algorithm algorithm) {
        return switch (algorithm) {
            case SLIDING_LOG -> Limit.of("requests", Limit.MAX_LOG_CAPACITY, Duration.ofMillis(1), algorithm);
            case GCRA -> Limit.of("requests", RATE, Duration.ofSeconds(1), algorithm).withBurst(RATE);
            default -> Limit.of("requests", RATE, Duration.ofSeconds(1), algorithm);
        };
    }
}

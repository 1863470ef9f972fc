package dev.sluice.memory;

import dev.sluice.api.ManualTicker;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.testkit.LimiterCompatibilityKit;
import java.time.Duration;

/**
 * The compatibility kit on an in-memory backend that never sweeps, so the differential test can also step the clock
 * back and check how every algorithm treats a clock that moves backwards.
 */
class MemoryNoEvictionLimiterCompatibilityTest extends LimiterCompatibilityKit {

    @Override
    protected LimiterBackend createBackend(ManualTicker ticker) {
        return MemoryBackend.builder().ticker(ticker).sweepInterval(Duration.ofDays(365)).build();
    }
}

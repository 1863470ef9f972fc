package dev.sluice.memory;

import dev.sluice.api.ManualTicker;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.testkit.LimiterCompatibilityKit;
import java.time.Duration;

/** The compatibility kit on the in-memory backend, sweeping for idle keys on every new key and on housekeeping. */
class MemoryLimiterCompatibilityTest extends LimiterCompatibilityKit {

    @Override
    protected LimiterBackend createBackend(ManualTicker ticker) {
        return MemoryBackend.builder().ticker(ticker).sweepInterval(Duration.ZERO).sweeper(Runnable::run).build();
    }

    @Override
    protected boolean forgetsIdleKeys() {
        return true;
    }

    @Override
    protected void housekeeping(LimiterBackend backend) {
        ((MemoryBackend) backend).cleanUp();
    }
}

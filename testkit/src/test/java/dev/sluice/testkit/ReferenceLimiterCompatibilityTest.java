package dev.sluice.testkit;

import dev.sluice.api.ManualTicker;
import dev.sluice.api.spi.LimiterBackend;

/**
 * The kit on the reference executor itself: its hand-worked expectations check the reference algorithms directly,
 * independently of any backend (the differential test is trivially green here).
 */
class ReferenceLimiterCompatibilityTest extends LimiterCompatibilityKit {

    @Override
    protected LimiterBackend createBackend(ManualTicker ticker) {
        return new ReferenceBackend(ticker);
    }

    @Override
    protected int differentialSequences() {
        return 50;
    }
}

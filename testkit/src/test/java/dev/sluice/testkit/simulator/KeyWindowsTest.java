package dev.sluice.testkit.simulator;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class KeyWindowsTest {

    @Test
    @DisplayName("Without limits nothing is logged: 200,000 arrivals at distinct microseconds hold no entry")
    void unlimitedHoldsNothing() {
        KeyWindows w = new KeyWindows();
        for (long t = 1; t <= 200_000; t++) {
            assertThat(w.admit(SimulatorLimits.none(), 30, t).refusal()).isNull();
            w.inFlight--;
        }
        // before the fix, the day log alone held one entry per arrival for a day: 200,000 here
        assertThat(w.entries()).isZero();
    }

    @Test
    @DisplayName("With limits the logs hold at most one entry per request admitted within a window")
    void limitedHoldsAtMostTheLimit() {
        SimulatorLimits l = SimulatorLimits.perMinute(1_000, 0).withWindow(Duration.ofMillis(100))
                .withRequestsPerDay(5_000, Duration.ofSeconds(1));
        KeyWindows w = new KeyWindows();
        long admitted = 0;
        for (long t = 1; t <= 3_000_000; t += 10) { // 3 s of arrivals every 10 µs: far over both limits
            if (w.admit(l, 30, t).refusal() == null) {
                admitted++;
                w.inFlight--;
            }
            assertThat(w.entries()).isLessThanOrEqualTo(1_000 + 5_000);
        }
        // the daily limit binds: 5,000 per second, over 3 seconds
        assertThat(admitted).isEqualTo(15_000);
    }
}

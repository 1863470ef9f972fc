package dev.sluice.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;
import dev.sluice.api.spi.LimiterBackend;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The differential machinery on backends that are wrong on purpose. */
class DifferentialTest {

    /** The reference, except that its {@code n}th acquire (from 1) throws. */
    private static LimiterBackend throwingAt(ReferenceBackend reference, int n) {
        AtomicInteger calls = new AtomicInteger();
        return new ForwardingBackend(reference) {
            @Override
            public Decision acquire(String key, Policy policy, Cost cost) {
                if (calls.incrementAndGet() == n) {
                    throw new IllegalStateException("backend failure");
                }
                return super.acquire(key, policy, cost);
            }
        };
    }

    @Test
    @DisplayName("A backend that throws is a difference like any other: found, shrunk and reported with its seed")
    void aThrowingBackendIsReportedWithItsSeed() {
        Differential.Scenario s = Differential.generate(42, 120, List.of(Algorithm.values()), true);
        Differential.Mismatch m = Differential.replay(s, t -> throwingAt(new ReferenceBackend(t), 3), b -> { });
        assertThat(m).isNotNull();
        assertThat(m.actual()).startsWith("threw java.lang.IllegalStateException: backend failure");
        Differential.Scenario shrunk = Differential.shrink(s, m, t -> throwingAt(new ReferenceBackend(t), 3),
                b -> { }, 400);
        assertThat(shrunk.ops().size()).isLessThanOrEqualTo(m.index() + 1);
        assertThat(Differential.report(shrunk, m)).contains("seed 42").contains("-Dsluice.differential.seed=42")
                .contains("threw");
    }

    @Test
    @DisplayName("The reference replayed against itself never differs")
    void referenceAgreesWithItself() {
        for (long seed = 1; seed <= 20; seed++) {
            Differential.Scenario s = Differential.generate(seed, 120, List.of(Algorithm.values()), true);
            assertThat(Differential.replay(s, ReferenceBackend::new, b -> { })).as("seed %d", seed).isNull();
        }
    }
}

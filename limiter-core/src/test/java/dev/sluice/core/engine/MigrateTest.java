package dev.sluice.core.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import java.time.Duration;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** {@link PolicyEngine#migrate}: which old limit a new one takes its consumption from. */
class MigrateTest {

    private static final long MINUTE = 60_000_000L;
    private static final Limit DAILY = Limit.of("requests", 1500, Duration.ofDays(1), Algorithm.FIXED_WINDOW);

    /**
     * The first call under {@code [first, DAILY]} ten idle minutes after 40 busy minutes of 15 requests each (600
     * today) under {@code [15/min token bucket, DAILY]}: at that point the per-minute bucket is full again.
     */
    private static Decision firstCallAfterSwitchTo(Limit first) {
        Policy before = Policy.of(Limit.perMinute("requests", 15), DAILY);
        @Nullable PolicyState state = null;
        long now = 0;
        for (int minute = 0; minute < 40; minute++, now += MINUTE) {
            for (int i = 0; i < 15; i++) {
                PolicyEngine.Result r = PolicyEngine.acquire(before, state, Cost.request(), now);
                assertThat(r.decision().granted()).isTrue();
                state = r.state();
            }
        }
        Policy after = Policy.of(first, DAILY);
        long later = 50 * MINUTE;
        return PolicyEngine.acquire(after, PolicyEngine.migrate(state, after, later), Cost.request(), later).decision();
    }

    @Test
    @DisplayName("An algorithm changed on the same period takes that period's consumption, not a longer limit's")
    void samePeriodIsTheSource() {
        Decision d = firstCallAfterSwitchTo(
                Limit.of("requests", 15, Duration.ofMinutes(1), Algorithm.SLIDING_WINDOW_COUNTER));
        assertThat(d.granted()).as("nothing used in the last minute").isTrue();
        assertThat(d.remaining(1)).as("the daily count is kept").isEqualTo(1500 - 601);
    }

    @Test
    @DisplayName("A new period takes the largest consumption of its dimension: never less than was used")
    void newPeriodTakesTheLargest() {
        Decision d = firstCallAfterSwitchTo(
                Limit.of("requests", 100, Duration.ofHours(1), Algorithm.SLIDING_WINDOW_COUNTER));
        assertThat(d.granted()).as("600 used today: the new hourly limit starts spent").isFalse();
    }
}

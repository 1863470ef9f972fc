package dev.sluice.core.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
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

    /** The state after 40 busy minutes of 15 requests each: 600 today. */
    private static @Nullable PolicyState busyThenIdle(Policy policy) {
        @Nullable PolicyState state = null;
        long now = 0;
        for (int minute = 0; minute < 40; minute++, now += MINUTE) {
            for (int i = 0; i < 15; i++) {
                PolicyEngine.Result r = PolicyEngine.acquire(policy, state, Cost.request(), now);
                assertThat(r.decision().granted()).isTrue();
                state = r.state();
            }
        }
        return state;
    }

    @Test
    @DisplayName("An algorithm changed on the same period takes that period's consumption, not a longer limit's")
    void samePeriodIsTheSource() {
        Policy before = Policy.of(Limit.perMinute("requests", 15), DAILY);
        Policy after = Policy.of(Limit.of("requests", 15, Duration.ofMinutes(1), Algorithm.SLIDING_WINDOW_COUNTER),
                DAILY);
        PolicyState state = busyThenIdle(before);
        long now = 50 * MINUTE; // ten idle minutes: the per-minute bucket is full again, 600 used today
        PolicyState moved = PolicyEngine.migrate(state, after, now);
        PolicyEngine.Result r = PolicyEngine.acquire(after, moved, Cost.request(), now);
        assertThat(r.decision().granted()).as("nothing used in the last minute").isTrue();
        assertThat(r.decision().remaining(1)).as("the daily count is kept").isEqualTo(1500 - 601);
    }

    @Test
    @DisplayName("A new period takes the largest consumption of its dimension: never less than was used")
    void newPeriodTakesTheLargest() {
        Policy before = Policy.of(Limit.perMinute("requests", 15), DAILY);
        Policy after = Policy.of(Limit.of("requests", 100, Duration.ofHours(1), Algorithm.SLIDING_WINDOW_COUNTER),
                DAILY);
        PolicyState state = busyThenIdle(before);
        PolicyState moved = PolicyEngine.migrate(state, after, 50 * MINUTE);
        PolicyEngine.Result r = PolicyEngine.acquire(after, moved, Cost.request(), 50 * MINUTE);
        assertThat(r.decision().granted()).as("600 used today: the new hourly limit starts spent").isFalse();
    }
}

package dev.sluice.core.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import java.time.Duration;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link Gcra} at the edges of its numbers. */
class GcraTest {

    @ParameterizedTest
    @ValueSource(longs = {Long.MAX_VALUE, Long.MAX_VALUE - 1, (1L << 62) + 1, 1L << 62})
    void aCapacityNearTheLargestLongStillWaitsExactly(long capacity) {
        // Its emission interval is far below 1 µs: one call at a time is admitted, the next must wait exactly 1 µs.
        // A ceiling taken as (excess + capacity − 1) / capacity overflowed here, gave a negative wait and admitted
        // every call within the microsecond.
        Policy policy = Policy.of(Limit.of("requests", capacity, Duration.ofMinutes(1), Algorithm.GCRA));
        long now = 1_000_000;
        @Nullable LimitState state = null;
        for (int step = 0; step < 3; step++, now += 1) {
            PolicyEngine.SingleResult first = PolicyEngine.acquireSingle(policy, state, Cost.request(), now);
            assertThat(first.decision().granted()).as("the first call at %d", now).isTrue();
            state = first.state();
            for (int i = 0; i < 5; i++) {
                PolicyEngine.SingleResult again = PolicyEngine.acquireSingle(policy, state, Cost.request(), now);
                Decision d = again.decision();
                assertThat(d.granted()).as("call %d in the same microsecond %d", i + 2, now).isFalse();
                assertThat(d.retryAfterMicros()).as("the wait").isEqualTo(1);
                assertThat(again.state()).as("a denial charges nothing").isEqualTo(state);
            }
        }
    }
}

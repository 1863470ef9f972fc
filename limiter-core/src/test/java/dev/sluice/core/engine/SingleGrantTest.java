package dev.sluice.core.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import java.time.Duration;
import java.util.Random;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link PolicyEngine#acquireSingle} grants token-bucket and GCRA calls in one pass; this checks that pass against
 * the composition it replaces (wait, then charge, then remaining), on seeded random limits, states, costs and times,
 * including clocks that step back.
 */
class SingleGrantTest {

    @ParameterizedTest
    @EnumSource(value = Algorithm.class, names = {"TOKEN_BUCKET", "GCRA"})
    @DisplayName("the one-pass grant gives the same state and decision as wait, charge and remaining")
    void sameAsComposition(Algorithm algorithm) {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        int grants = 0;
        for (int run = 0; run < 300; run++) {
            long capacity = 1 + rnd.nextInt(rnd.nextBoolean() ? 10 : 5_000);
            Duration period = Duration.ofMillis(1 + rnd.nextInt(rnd.nextBoolean() ? 50 : 120_000));
            Limit limit = Limit.of("tokens", capacity, period, algorithm);
            if (rnd.nextBoolean()) {
                limit = limit.withBurst(1 + rnd.nextInt((int) Math.min(Integer.MAX_VALUE, capacity * 3)));
            }
            Policy policy = Policy.of(limit);
            @Nullable LimitState state = null;
            long now = rnd.nextInt(1_000_000);
            long lastWait = 0;
            long lastN = 1;
            for (int step = 0; step < 200; step++) {
                long n;
                if (lastWait > 0 && rnd.nextBoolean()) {
                    // The boundaries: the same call a microsecond before its wait ends, or just when it ends.
                    now += rnd.nextBoolean() ? lastWait - 1 : lastWait;
                    n = lastN;
                } else {
                    now += rnd.nextInt(10) == 0 ? -rnd.nextInt(1_000)
                            : rnd.nextInt((int) Math.min(limit.periodMicros(), 1 << 20));
                    n = 1 + rnd.nextInt((int) Math.min(limit.maxCost(), 1 + rnd.nextInt(20)));
                }
                String where = "seed " + seed + ", run " + run + ", step " + step;
                PolicyEngine.SingleResult r = check(policy, limit, state, n, now, where);
                grants += r.decision().granted() ? 1 : 0;
                state = r.state();
                lastWait = r.decision().retryAfterMicros();
                lastN = n;
            }
            // States built to sit on the boundaries of whole units: k·P + {0, 1, P − 1} tokens or debt.
            long p = limit.periodMicros();
            for (int i = 0; i < 50; i++) {
                long k = rnd.nextInt((int) Math.min(limit.burst() + 1, 1 << 20));
                long[] offsets = {0, 1, p - 1, (long) (rnd.nextDouble() * p)};
                long units = Math.min(k * p + offsets[rnd.nextInt(offsets.length)], limit.burst() * p);
                @Nullable LimitState built;
                if (algorithm == Algorithm.TOKEN_BUCKET) {
                    built = new TokenBucket.State(units, now + rnd.nextInt(3) - 1);
                } else {
                    long whole = units / limit.capacity();
                    built = units == 0 ? null : new Gcra.State(now + whole, units - whole * limit.capacity());
                }
                long n = 1 + rnd.nextInt((int) Math.min(limit.maxCost(), 3));
                grants += check(policy, limit, built, n, now, "seed " + seed + ", run " + run + ", built")
                        .decision().granted() ? 1 : 0;
            }
        }
        assertThat(grants).as("seed " + seed + ": grants seen").isGreaterThan(1_000);
    }

    /** Compares the one-pass grant with the composition for one call, and returns the one-pass result. */
    private static PolicyEngine.SingleResult check(Policy policy, Limit limit, @Nullable LimitState state, long n, long now, String where) {
        PolicyEngine.SingleResult fused = PolicyEngine.acquireSingle(policy, state, Cost.tokens(n), now);
        long wait = PolicyEngine.waitMicros(limit, state, n, now);
        String at = where + ": " + limit + ", state " + state + ", n " + n + ", now " + now;
        if (wait > 0) {
            assertThat(fused.state()).as(at).isSameAs(state);
            assertThat(fused.decision().granted()).as(at).isFalse();
            assertThat(fused.decision().retryAfterMicros()).as(at).isEqualTo(wait);
            return fused;
        }
        LimitState charged = PolicyEngine.charge(limit, state, n, now);
        assertThat(fused.state()).as(at).isEqualTo(charged);
        assertThat(fused.decision()).as(at)
                .isEqualTo(Decision.granted(policy, PolicyEngine.remaining(limit, charged, now)));
        return fused;
    }
}

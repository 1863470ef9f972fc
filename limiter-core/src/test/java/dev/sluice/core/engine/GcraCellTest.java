package dev.sluice.core.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import java.math.BigInteger;
import java.time.Duration;
import java.util.Random;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** {@link GcraCell} holds GCRA's reference state in one {@code long}: exactly, and with the same decisions. */
class GcraCellTest {

    private static final long T0 = 1_000_000_000L;

    @Test
    @DisplayName("a state converts to a cell and back unchanged, and the cell's debt is the reference's at any time")
    void roundTripAndDebt() {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        for (int run = 0; run < 2_000; run++) {
            Limit limit = randomLimit(rnd);
            long now = T0 + rnd.nextInt(1_000_000);
            @Nullable LimitState state = null;
            for (int step = 0; step < 20; step++) {
                long n = 1 + rnd.nextInt((int) Math.min(limit.burst(), 50));
                Policy policy = Policy.of(limit);
                state = PolicyEngine.acquireSingle(policy, state, Cost.of("tokens", n), now).state();
                now += rnd.nextInt(rnd.nextBoolean() ? 100 : 3_000_000);
            }
            long base = GcraCell.base(state, now);
            long cell = GcraCell.toCell(limit, base, state, now);
            String why = "seed " + seed + ", " + limit + ", " + state + " at " + now;
            assertThat(cell).as(why).isNotNegative();
            assertThat(GcraCell.toState(limit, base, cell)).as(why).isEqualTo(state);
            for (long later : new long[] {now, now + 1, now + rnd.nextInt(5_000_000), base}) {
                assertThat(GcraCell.debt(cell, GcraCell.scaledNow(limit, base, later))).as(why + " then " + later)
                        .isEqualTo(Gcra.debt(limit, (Gcra.State) state, later));
            }
            assertThat(GcraCell.restAt(limit, base, cell)).as(why)
                    .isEqualTo(state == null ? base : PolicyEngine.restAt(limit, state));
        }
    }

    @Test
    @DisplayName("what a debt leaves grantable is the whole units of the burst it does not owe, at its edges too")
    void remainingOfADebt() {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        for (int run = 0; run < 20_000; run++) {
            Limit limit = randomLimit(rnd);
            long whole = limit.burst() * limit.periodMicros();
            long debt = switch (rnd.nextInt(4)) {
                case 0 -> rnd.nextInt(3);
                case 1 -> limit.periodMicros() + rnd.nextInt(3) - 1;
                case 2 -> whole + rnd.nextInt(3) - 1;
                default -> (long) (rnd.nextDouble() * whole);
            };
            long expected = BigInteger.valueOf(whole).subtract(BigInteger.valueOf(debt))
                    .max(BigInteger.ZERO).divide(BigInteger.valueOf(limit.periodMicros()))
                    .longValueExact();
            assertThat(Gcra.remaining(limit, debt)).as("seed %d, %s, debt %d", seed, limit, debt)
                    .isEqualTo(expected);
        }
    }

    @Test
    @DisplayName("an executor's admission test and grant on the numbers it keeps are the limit's, at the edges too")
    void primitiveFormsAreTheLimits() {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        for (int run = 0; run < 20_000; run++) {
            Limit limit = randomLimit(rnd);
            Policy policy = Policy.of(limit);
            long period = limit.periodMicros();
            long tolerance = GcraCell.tolerance(limit);
            long n = rnd.nextInt(4) == 0 ? limit.burst() : 1 + rnd.nextInt((int) Math.min(limit.burst(), 50));
            long edge = tolerance - n * period; // the largest debt that still admits n
            long debt = switch (rnd.nextInt(6)) {
                case 0 -> 0;
                case 1 -> rnd.nextInt(3);
                case 2 -> Math.max(0, edge + rnd.nextInt(3) - 1);
                case 3 -> tolerance - rnd.nextInt(2);
                case 4 -> tolerance + 1 + rnd.nextInt(3 * (int) Math.min(period, 1_000)); // a clock that went back
                default -> (long) (rnd.nextDouble() * tolerance);
            };
            String why = "seed " + seed + ", " + limit + ", debt " + debt + ", n " + n;
            long after = GcraCell.debtAfter(debt, n * period, tolerance);
            assertThat(after).as(why).isEqualTo(Gcra.debtAfter(limit, debt, n));
            if (after >= 0) {
                assertThat(GcraCell.granted(policy, limit.burst(), period, tolerance, debt, n, after)).as(why)
                        .isEqualTo(GcraCell.granted(policy, after));
            }
        }
    }

    @Test
    @DisplayName("no state is the cell 0, at rest from its base on, a second before now")
    void noStateIsZero() {
        Limit limit = Limit.of("requests", 10, Duration.ofSeconds(1), Algorithm.GCRA);
        long base = GcraCell.base(null, T0);
        assertThat(base).as("a second before, for callers that read the clock a moment earlier")
                .isEqualTo(T0 - 1_000_000);
        assertThat(GcraCell.toCell(limit, base, null, T0)).isZero();
        assertThat(GcraCell.toState(limit, base, 0)).isNull();
        assertThat(GcraCell.restAt(limit, base, 0)).isEqualTo(base);
    }

    @Test
    @DisplayName("a cell is valid from its base to its span, and refuses states it cannot hold exactly")
    void spanAndRefusals() {
        Limit limit = Limit.of("requests", 10, Duration.ofSeconds(1), Algorithm.GCRA).withBurst(5);
        long span = GcraCell.span(limit);
        assertThat(span).isEqualTo(((1L << 62) - 5 * 1_000_000L) / 10);
        Gcra.State state = new Gcra.State(T0 + 100_000, 3); // a debt of 1,000,003 at T0
        assertThat(GcraCell.toCell(limit, T0 - 1, state, T0 - 2)).as("before the base").isEqualTo(-1);
        assertThat(GcraCell.toCell(limit, T0 - 1, state, T0 - 1 + span + 1)).as("beyond the span").isEqualTo(-1);
        assertThat(GcraCell.toCell(limit, T0 + 100_000, state, T0 + 100_000)).as("arrival not after the base")
                .isEqualTo(-1);
        Gcra.State clockWentBack = new Gcra.State(T0 + 600_000, 0); // a debt of 6 units at T0, burst 5
        assertThat(GcraCell.toCell(limit, T0, clockWentBack, T0)).as("debt beyond the burst").isEqualTo(-1);
        assertThat(GcraCell.toCell(limit, T0 - 1, state, T0)).isEqualTo(100_001 * 10 + 3);
    }

    @Test
    @DisplayName("a policy fits a cell only with one GCRA limit whose span is at least a minute")
    void fits() {
        Limit gcra = Limit.of("tokens", 1_000_000, Duration.ofMinutes(1), Algorithm.GCRA);
        assertThat(GcraCell.fits(Policy.of(gcra))).isTrue();
        assertThat(GcraCell.fits(Policy.of(Limit.of("tokens", 1_000_000_000_000L, Duration.ofSeconds(1),
                Algorithm.GCRA)))).as("a span of 4.6 s").isFalse();
        assertThat(GcraCell.fits(Policy.of(Limit.perMinute("tokens", 1_000_000)))).as("token bucket").isFalse();
        assertThat(GcraCell.fits(Policy.of(gcra, Limit.of("requests", 5, Duration.ofSeconds(1), Algorithm.GCRA))))
                .as("two limits").isFalse();
    }

    private static Limit randomLimit(Random rnd) {
        long capacity = 1 + rnd.nextInt(rnd.nextBoolean() ? 10 : 5_000);
        Duration period = Duration.ofMillis(1 + rnd.nextInt(rnd.nextBoolean() ? 50 : 120_000));
        Limit limit = Limit.of("tokens", capacity, period, Algorithm.GCRA);
        return rnd.nextBoolean() ? limit.withBurst(1 + rnd.nextInt((int) Math.min(Integer.MAX_VALUE, capacity * 3)))
                : limit;
    }
}

package dev.sluice.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

class LimitTest {

    @Nested
    class Validation {

        @ParameterizedTest
        @ValueSource(strings = {"", "has space", "semi;colon", "ünïcode", "slash/es", "a@b", "a[b", "a`b", "a{b", "a:b",
            "a,b"})
        void malformedDimensionIsRejectedAndNamed(String dimension) {
            assertThatThrownBy(() -> Limit.of(dimension, 10, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("dimension")
                    .hasMessageContaining("'" + dimension + "'");
        }

        @Test
        void nullDimensionIsRejected() {
            assertThatThrownBy(() -> Limit.of(null, 10, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("was null");
        }

        @Test
        void dimensionMayHaveSixtyFourCharactersButNotSixtyFive() {
            String ok = "a".repeat(64);
            assertThat(Limit.perMinute(ok, 1).dimension()).isEqualTo(ok);

            String tooLong = "b".repeat(65);
            assertThatThrownBy(() -> Limit.perMinute(tooLong, 1))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'" + tooLong + "'");
        }

        @Test
        void veryLongDimensionIsTruncatedInTheMessage() {
            String huge = "x".repeat(200);
            assertThatThrownBy(() -> Limit.perMinute(huge, 1))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'" + "x".repeat(80) + "...'")
                    .hasMessageNotContaining("x".repeat(81));
        }

        @Test
        void allowedDimensionCharacters() {
            assertThat(Limit.perMinute("Az09_.-", 1).dimension()).isEqualTo("Az09_.-");
        }

        @ParameterizedTest
        @ValueSource(longs = {0, -1, Long.MIN_VALUE})
        void nonPositiveCapacityIsRejectedAndNamed(long capacity) {
            assertThatThrownBy(() -> Limit.of("tokens", capacity, Duration.ofMinutes(1), Algorithm.FIXED_WINDOW))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("capacity of 'tokens'")
                    .hasMessageContaining("was " + capacity);
        }

        @Test
        void nullPeriodIsRejected() {
            assertThatThrownBy(() -> Limit.of("tokens", 1, null, Algorithm.FIXED_WINDOW))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("period of 'tokens'")
                    .hasMessageContaining("null");
        }

        @Test
        void periodShorterThanOneMillisecondIsRejectedAndNamed() {
            Duration tooShort = Duration.ofNanos(999_999);
            assertThatThrownBy(() -> Limit.of("tokens", 1, tooShort, Algorithm.FIXED_WINDOW))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("period of 'tokens'")
                    .hasMessageContaining(tooShort.toString());
        }

        @Test
        void negativePeriodIsRejected() {
            assertThatThrownBy(() -> Limit.of("tokens", 1, Duration.ofSeconds(-5), Algorithm.FIXED_WINDOW))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("PT-5S");
        }

        @Test
        void exactlyOneMillisecondIsTheShortestPeriod() {
            Limit l = Limit.of("tokens", 1, Limit.MIN_PERIOD, Algorithm.FIXED_WINDOW);
            assertThat(l.periodMicros()).isEqualTo(1000);
            assertThat(l.period()).isEqualTo(Duration.ofMillis(1));
        }

        @Test
        void periodIsTruncatedToWholeMicroseconds() {
            Limit l = Limit.of("tokens", 1, Duration.ofNanos(1_500_999), Algorithm.FIXED_WINDOW);
            assertThat(l.periodMicros()).isEqualTo(1500);
            assertThat(l.period()).isEqualTo(Duration.ofNanos(1_500_000));
        }

        @Test
        void absurdlyLongPeriodIsRejected() {
            Duration forever = Duration.ofSeconds(Long.MAX_VALUE);
            assertThatThrownBy(() -> Limit.of("tokens", 1, forever, Algorithm.FIXED_WINDOW))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("period of 'tokens' is too long");
        }

        @Test
        void nullAlgorithmIsRejected() {
            assertThatThrownBy(() -> Limit.of("tokens", 1, Duration.ofMinutes(1), null))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("algorithm of 'tokens'")
                    .hasMessageContaining("null");
        }

        @Test
        void documentedExamplesFitTheProductBound() {
            assertThat(Limit.perMinute("tokens", 1_000_000).capacity()).isEqualTo(1_000_000);
            assertThat(Limit.of("tokens", 50_000_000, Duration.ofDays(1), Algorithm.TOKEN_BUCKET).burst())
                    .isEqualTo(50_000_000);
            assertThat(Limit.of("tokens", 50_000_000, Duration.ofDays(1), Algorithm.SLIDING_WINDOW_COUNTER)
                    .capacity()).isEqualTo(50_000_000);
        }

        @ParameterizedTest
        @EnumSource(value = Algorithm.class, names = {"TOKEN_BUCKET", "SLIDING_WINDOW_COUNTER"})
        void capacityTimesPeriodBeyondTwoToTheSixtyTwoIsRejectedAndNamed(Algorithm algorithm) {
            // 86,400,000,000 µs per day: 60,000,000 × that is about 5.2e18 > 2^62 ≈ 4.6e18
            assertThatThrownBy(() -> Limit.of("tokens", 60_000_000, Duration.ofDays(1), algorithm))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("capacity of 'tokens' is too large")
                    .hasMessageContaining("60000000");
        }

        @ParameterizedTest
        @EnumSource(value = Algorithm.class, names = {"FIXED_WINDOW", "GCRA"})
        void fixedWindowAndGcraTakeLargeCapacities(Algorithm algorithm) {
            Limit l = Limit.of("tokens", 60_000_000, Duration.ofDays(1), algorithm);
            assertThat(l.capacity()).isEqualTo(60_000_000);
        }

        @Test
        void slidingLogCapacityIsBounded() {
            assertThat(Limit.of("requests", Limit.MAX_LOG_CAPACITY, Duration.ofMinutes(1), Algorithm.SLIDING_LOG)
                    .capacity()).isEqualTo(100_000);
            assertThatThrownBy(() -> Limit.of("requests", Limit.MAX_LOG_CAPACITY + 1, Duration.ofMinutes(1),
                    Algorithm.SLIDING_LOG))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("capacity of 'requests'")
                    .hasMessageContaining("100001");
        }
    }

    @Nested
    class Defaults {

        @Test
        void tokenBucketBurstIsTheCapacity() {
            Limit l = Limit.of("tokens", 500, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET);
            assertThat(l.burst()).isEqualTo(500);
            assertThat(l.maxCost()).isEqualTo(500);
        }

        @Test
        void gcraBurstIsOne() {
            Limit l = Limit.of("tokens", 500, Duration.ofMinutes(1), Algorithm.GCRA);
            assertThat(l.burst()).isEqualTo(1);
            assertThat(l.maxCost()).isEqualTo(1);
        }

        @ParameterizedTest
        @EnumSource(value = Algorithm.class, names = {"FIXED_WINDOW", "SLIDING_LOG", "SLIDING_WINDOW_COUNTER"})
        void windowAlgorithmsReportTheirCapacityAsBurstAndMaxCost(Algorithm algorithm) {
            Limit l = Limit.of("requests", 40, Duration.ofMinutes(1), algorithm);
            assertThat(l.burst()).isEqualTo(40);
            assertThat(l.maxCost()).isEqualTo(40);
        }

        @Test
        void perSecondMinuteHourAreTokenBuckets() {
            Limit s = Limit.perSecond("requests", 5);
            Limit m = Limit.perMinute("requests", 15);
            Limit h = Limit.perHour("requests", 100);
            assertThat(s.algorithm()).isEqualTo(Algorithm.TOKEN_BUCKET);
            assertThat(s.period()).isEqualTo(Duration.ofSeconds(1));
            assertThat(s.periodMicros()).isEqualTo(1_000_000);
            assertThat(m.algorithm()).isEqualTo(Algorithm.TOKEN_BUCKET);
            assertThat(m.period()).isEqualTo(Duration.ofMinutes(1));
            assertThat(m.burst()).isEqualTo(15);
            assertThat(h.algorithm()).isEqualTo(Algorithm.TOKEN_BUCKET);
            assertThat(h.period()).isEqualTo(Duration.ofHours(1));
        }

        @Test
        void perDayIsAFixedWindowOfOneDay() {
            Limit d = Limit.perDay("requests", 1500);
            assertThat(d.algorithm()).isEqualTo(Algorithm.FIXED_WINDOW);
            assertThat(d.period()).isEqualTo(Duration.ofDays(1));
            assertThat(d.periodMicros()).isEqualTo(86_400_000_000L);
            assertThat(d.capacity()).isEqualTo(1500);
            assertThat(d.dimension()).isEqualTo("requests");
        }

        @Test
        void hasBurstOnlyForTokenBucketAndGcra() {
            assertThat(Algorithm.TOKEN_BUCKET.hasBurst()).isTrue();
            assertThat(Algorithm.GCRA.hasBurst()).isTrue();
            assertThat(Algorithm.FIXED_WINDOW.hasBurst()).isFalse();
            assertThat(Algorithm.SLIDING_LOG.hasBurst()).isFalse();
            assertThat(Algorithm.SLIDING_WINDOW_COUNTER.hasBurst()).isFalse();
        }
    }

    @Nested
    class WithBurst {

        @Test
        void setsBurstAndMaxCostKeepingTheRest() {
            Limit base = Limit.perMinute("tokens", 1000);
            Limit l = base.withBurst(250);
            assertThat(l.burst()).isEqualTo(250);
            assertThat(l.maxCost()).isEqualTo(250);
            assertThat(l.capacity()).isEqualTo(1000);
            assertThat(l.period()).isEqualTo(Duration.ofMinutes(1));
            assertThat(l.algorithm()).isEqualTo(Algorithm.TOKEN_BUCKET);
            assertThat(l.dimension()).isEqualTo("tokens");
            assertThat(base.burst()).as("the original is immutable").isEqualTo(1000);
        }

        @Test
        void burstMayExceedCapacity() {
            assertThat(Limit.perMinute("tokens", 10).withBurst(50).burst()).isEqualTo(50);
        }

        @Test
        void gcraTakesABurst() {
            Limit l = Limit.of("requests", 60, Duration.ofMinutes(1), Algorithm.GCRA).withBurst(10);
            assertThat(l.burst()).isEqualTo(10);
            assertThat(l.maxCost()).isEqualTo(10);
        }

        @ParameterizedTest
        @EnumSource(value = Algorithm.class, names = {"FIXED_WINDOW", "SLIDING_LOG", "SLIDING_WINDOW_COUNTER"})
        void windowAlgorithmsRefuseABurst(Algorithm algorithm) {
            Limit l = Limit.of("requests", 10, Duration.ofMinutes(1), algorithm);
            assertThatThrownBy(() -> l.withBurst(5))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("burst applies to TOKEN_BUCKET and GCRA only")
                    .hasMessageContaining(algorithm.name());
        }

        @ParameterizedTest
        @ValueSource(longs = {0, -3})
        void nonPositiveBurstIsRejectedAndNamed(long burst) {
            assertThatThrownBy(() -> Limit.perMinute("tokens", 10).withBurst(burst))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("burst of 'tokens'")
                    .hasMessageContaining("was " + burst);
        }

        @Test
        void burstTimesPeriodBeyondTwoToTheSixtyTwoIsRejectedAndNamed() {
            long tooBig = Limit.MAX_PRODUCT / 60_000_000L + 1;
            assertThatThrownBy(() -> Limit.perMinute("tokens", 10).withBurst(tooBig))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("burst of 'tokens' is too large")
                    .hasMessageContaining(Long.toString(tooBig));
            assertThat(Limit.perMinute("tokens", 10).withBurst(tooBig - 1).burst()).isEqualTo(tooBig - 1);
        }

        @Test
        void withAlgorithmResetsTheBurstToTheNewAlgorithmsDefault() {
            Limit custom = Limit.perMinute("tokens", 100).withBurst(7);
            Limit gcra = custom.withAlgorithm(Algorithm.GCRA);
            assertThat(gcra.algorithm()).isEqualTo(Algorithm.GCRA);
            assertThat(gcra.burst()).isEqualTo(1);
            assertThat(gcra.capacity()).isEqualTo(100);
            assertThat(gcra.period()).isEqualTo(Duration.ofMinutes(1));
            assertThat(gcra.withAlgorithm(Algorithm.TOKEN_BUCKET).burst()).isEqualTo(100);
            assertThat(custom.withAlgorithm(Algorithm.FIXED_WINDOW).maxCost()).isEqualTo(100);
        }

        @Test
        void withAlgorithmValidatesTheNewAlgorithm() {
            Limit big = Limit.of("tokens", 200_000, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET);
            assertThatThrownBy(() -> big.withAlgorithm(Algorithm.SLIDING_LOG))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("200000");
        }
    }

    @Nested
    class Equality {

        @Test
        void sameValuesAreEqualWithEqualHashCodes() {
            Limit a = Limit.of("tokens", 100, Duration.ofSeconds(60), Algorithm.TOKEN_BUCKET);
            Limit b = Limit.perMinute("tokens", 100);
            assertThat(a).isEqualTo(b).hasSameHashCodeAs(b);
            assertThat(a.withBurst(5)).isEqualTo(b.withBurst(5)).hasSameHashCodeAs(b.withBurst(5));
        }

        @Test
        void explicitDefaultBurstEqualsTheDefault() {
            Limit l = Limit.perMinute("tokens", 100);
            assertThat(l.withBurst(100)).isEqualTo(l).hasSameHashCodeAs(l);
        }

        @Test
        void everyFieldTakesPartInEquality() {
            Limit base = Limit.perMinute("tokens", 100);
            assertThat(base).isNotEqualTo(Limit.perMinute("requests", 100));
            assertThat(base).isNotEqualTo(Limit.perMinute("tokens", 101));
            assertThat(base).isNotEqualTo(Limit.perHour("tokens", 100));
            assertThat(base).isNotEqualTo(base.withAlgorithm(Algorithm.SLIDING_WINDOW_COUNTER));
            assertThat(base).isNotEqualTo(base.withBurst(99));
            assertThat(base).isNotEqualTo(null);
            assertThat(base).isNotEqualTo("tokens 100/PT1M TOKEN_BUCKET burst 100");
        }

        @Test
        void toStringShowsTheLimit() {
            assertThat(Limit.perMinute("tokens", 1_000_000))
                    .hasToString("tokens 1000000/PT1M TOKEN_BUCKET burst 1000000");
            assertThat(Limit.perDay("requests", 1500)).hasToString("requests 1500/PT24H FIXED_WINDOW");
        }
    }

    @Nested
    class VeryLongPeriods {

        /**
         * BUG: {@link Limit#of} accepts periods up to 2^62 µs (about 146,000 years), but {@link Limit#period()} converts
         * through {@code Duration.ofNanos(multiplyExact(periodMicros, 1000))}, which overflows beyond 2^63 ns (about
         * 292 years). A limit that passed validation then throws {@link ArithmeticException} from period(), toString(),
         * withAlgorithm(), and from Policy.of's own error messages.
         */
        @Test
        void anAcceptedPeriodIsReturnedByPeriod() {
            Duration thousandYears = Duration.ofDays(365_000);
            Limit l = Limit.of("requests", 1, thousandYears, Algorithm.FIXED_WINDOW);
            assertThat(l.periodMicros()).isEqualTo(thousandYears.getSeconds() * 1_000_000L);
            assertThat(l.period()).isEqualTo(Duration.of(l.periodMicros(), ChronoUnit.MICROS));
            assertThat(l.toString()).contains("FIXED_WINDOW");
        }
    }

    /** {@link ManualTicker}, the clock every time-dependent test uses. */
    @Nested
    class ManualTickerTest {

        @Test
        void startsAtTheGivenTimeAndAdvances() {
            ManualTicker t = new ManualTicker(5);
            assertThat(t.nowMicros()).isEqualTo(5);
            t.advanceMicros(10);
            assertThat(t.nowMicros()).isEqualTo(15);
            t.advance(Duration.ofMillis(2));
            assertThat(t.nowMicros()).isEqualTo(2015);
        }

        @Test
        void defaultOriginIsNotZero() {
            assertThat(new ManualTicker().nowMicros()).isEqualTo(1_000_000_000L);
        }

        @Test
        void advanceTruncatesToWholeMicroseconds() {
            ManualTicker t = new ManualTicker(0);
            t.advance(Duration.ofNanos(1999));
            assertThat(t.nowMicros()).isEqualTo(1);
        }

        @Test
        void refusesNegativeAdvanceAndDoesNotMove() {
            ManualTicker t = new ManualTicker(100);
            assertThatThrownBy(() -> t.advanceMicros(-1))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("-1");
            assertThatThrownBy(() -> t.advance(Duration.ofSeconds(-2)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("PT-2S");
            assertThat(t.nowMicros()).isEqualTo(100);
        }

        /**
         * BUG: advance(Duration) documents an IllegalArgumentException for any negative duration, but truncates to
         * microseconds before checking, so a negative duration shorter than 1 µs is silently accepted.
         */
        @Test
        void refusesNegativeSubMicrosecondAdvance() {
            ManualTicker t = new ManualTicker(100);
            assertThatThrownBy(() -> t.advance(Duration.ofNanos(-1))).isInstanceOf(IllegalArgumentException.class);
        }

        @Test
        void setMayMoveBackwards() {
            ManualTicker t = new ManualTicker(100);
            t.set(40);
            assertThat(t.nowMicros()).isEqualTo(40);
        }
    }
}

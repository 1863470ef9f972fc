package dev.sluice.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Decision.Reason;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.core.WaitScheduler;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The contract every {@link LimiterBackend} keeps, as a JUnit 5 suite. A backend's test is a short subclass that
 * says how to build the backend on a manual clock and, through capability flags, what it supports:
 *
 * <pre>{@code
 * class MemoryLimiterCompatibilityTest extends LimiterCompatibilityKit {
 *     protected LimiterBackend createBackend(ManualTicker ticker) {
 *         return MemoryBackend.builder().ticker(ticker).build();
 *     }
 * }
 * }</pre>
 *
 * Time is manual throughout: no test sleeps. Expected values are worked out by hand from each algorithm's definition,
 * so a wrong boundary in the reference itself fails here, not only a backend that disagrees with it.
 */
public abstract class LimiterCompatibilityKit {

    /** The clock of the current test, starting at 1,000 s since the epoch (aligned to every period used here). */
    protected ManualTicker ticker;
    /** Waits of the current test. */
    protected ManualScheduler scheduler;
    /** The backend of the current test. */
    protected LimiterBackend backend;

    private final List<SluiceLimiter> limiters = new ArrayList<>();

    /** A new, empty backend reading time from {@code ticker}. */
    protected abstract LimiterBackend createBackend(ManualTicker ticker);

    /** Whether the backend runs {@code algorithm}. */
    protected boolean supports(Algorithm algorithm) {
        return true;
    }

    /** Whether the backend decides exactly as the reference does (then the differential test runs). */
    protected boolean matchesReference() {
        return true;
    }

    /**
     * Whether the backend forgets keys whose state is at rest. Such a backend decides as the reference does as long
     * as time does not step back, so the differential test then leaves clock steps out.
     */
    protected boolean forgetsIdleKeys() {
        return false;
    }

    /** Sequences the differential test replays; lower it for slow backends. */
    protected int differentialSequences() {
        return 1500;
    }

    /** What the differential test's housekeeping operation does, for example evicting idle keys. */
    protected void housekeeping(LimiterBackend backend) {
    }

    @BeforeEach
    void setUpKit() {
        ticker = new ManualTicker(1_000_000_000L);
        scheduler = new ManualScheduler(ticker);
        backend = createBackend(ticker);
    }

    @AfterEach
    void tearDownKit() {
        limiters.forEach(SluiceLimiter::close);
        limiters.clear();
        backend.close();
    }

    /** A limiter on the test's backend and manual scheduler. */
    protected SluiceLimiter limiter(Policy policy) {
        SluiceLimiter l = SluiceLimiter.builder(backend).policy(policy).scheduler(scheduler).build();
        limiters.add(l);
        return l;
    }

    /** A limit whose burst (where it has one) equals its capacity, so every algorithm admits the same first burst. */
    protected static Limit limit(Algorithm a, String dimension, long capacity, Duration period) {
        Limit l = Limit.of(dimension, capacity, period, a);
        return a.hasBurst() ? l.withBurst(capacity) : l;
    }

    private void skipUnless(Algorithm... algorithms) {
        for (Algorithm a : algorithms) {
            assumeTrue(supports(a), "backend does not run " + a);
        }
    }

    private static void grant(SluiceLimiter l, String key, Cost cost, int times) {
        for (int i = 0; i < times; i++) {
            Decision d = l.tryAcquire(key, cost);
            assertThat(d.granted()).as("grant %d of %d: %s", i + 1, times, d).isTrue();
        }
    }

    private static void assertDenied(Decision d, long retryAfterMicros) {
        assertThat(d.granted()).as("%s", d).isFalse();
        assertThat(d.reason()).isEqualTo(Reason.RATE_LIMITED);
        assertThat(d.retryAfterMicros()).as("retryAfter of %s", d).isEqualTo(retryAfterMicros);
    }

    // ---------------------------------------------------------------- fixed window

    @Test
    @DisplayName("Fixed window: admits the capacity per aligned window, then waits exactly until the next window")
    void fixedWindowCapacityAndWait() {
        skipUnless(Algorithm.FIXED_WINDOW);
        SluiceLimiter l = limiter(Policy.of(Limit.of("requests", 3, Duration.ofSeconds(10), Algorithm.FIXED_WINDOW)));
        ticker.advance(Duration.ofSeconds(4));
        grant(l, "k", Cost.request(), 3);
        Decision d = l.tryAcquire("k", Cost.request());
        assertDenied(d, 6_000_000);
        assertThat(d.remaining("requests")).isZero();
        ticker.advanceMicros(5_999_999);
        assertDenied(l.tryAcquire("k", Cost.request()), 1);
        ticker.advanceMicros(1);
        assertThat(l.tryAcquire("k", Cost.request()).remaining("requests")).isEqualTo(2);
    }

    @Test
    @DisplayName("Fixed window: a burst across a window edge admits up to twice the capacity (documented behaviour)")
    void fixedWindowBoundaryBurst() {
        skipUnless(Algorithm.FIXED_WINDOW);
        SluiceLimiter l = limiter(Policy.of(Limit.of("requests", 3, Duration.ofSeconds(10), Algorithm.FIXED_WINDOW)));
        ticker.advanceMicros(9_999_999);
        grant(l, "k", Cost.request(), 3);
        ticker.advanceMicros(1);
        grant(l, "k", Cost.request(), 3);
        assertThat(l.tryAcquire("k", Cost.request()).granted()).isFalse();
    }

    // ---------------------------------------------------------------- sliding log

    @Test
    @DisplayName("Sliding log: a grant counts for exactly one period; the wait is until the oldest needed grant expires")
    void slidingLogExpiry() {
        skipUnless(Algorithm.SLIDING_LOG);
        SluiceLimiter l = limiter(Policy.of(Limit.of("requests", 3, Duration.ofSeconds(10), Algorithm.SLIDING_LOG)));
        grant(l, "k", Cost.request(), 1);
        ticker.advance(Duration.ofSeconds(2));
        grant(l, "k", Cost.request(), 1);
        ticker.advance(Duration.ofSeconds(2));
        grant(l, "k", Cost.request(), 1);
        ticker.advance(Duration.ofSeconds(1));
        assertDenied(l.tryAcquire("k", Cost.request()), 5_000_000);
        assertDenied(l.tryAcquire("k", Cost.requests(2)), 7_000_000);
        ticker.advanceMicros(4_999_999);
        assertDenied(l.tryAcquire("k", Cost.request()), 1);
        ticker.advanceMicros(1);
        Decision two = l.tryAcquire("k", Cost.requests(2));
        assertDenied(two, 2_000_000);
        assertThat(two.remaining("requests")).as("the first grant stopped counting at exactly 10 s").isEqualTo(1);
        grant(l, "k", Cost.request(), 1);
        assertDenied(l.tryAcquire("k", Cost.request()), 2_000_000);
    }

    // ---------------------------------------------------------------- sliding window counter

    @Test
    @DisplayName("Sliding window counter: the previous window weighs by its overlap; waits solve the weighted bound exactly")
    void slidingWindowCounterWeights() {
        skipUnless(Algorithm.SLIDING_WINDOW_COUNTER);
        Limit limit = Limit.of("requests", 10, Duration.ofSeconds(10), Algorithm.SLIDING_WINDOW_COUNTER);
        SluiceLimiter l = limiter(Policy.of(limit));
        grant(l, "k", Cost.request(), 10);
        // Next window: previous = 10, so one more fits once 10·(10s − e) ≤ 9·10s, i.e. e ≥ 1s: 11 s from now.
        assertDenied(l.tryAcquire("k", Cost.request()), 11_000_000);
        ticker.advanceMicros(10_999_999);
        assertDenied(l.tryAcquire("k", Cost.request()), 1);
        ticker.advanceMicros(1);
        assertThat(l.tryAcquire("k", Cost.request()).remaining(limit)).isZero();
        // 2.5 s into the window: 10 × 0.75 + 1 = 8.5 used, so 1 remains.
        ticker.advanceMicros(1_500_000);
        assertThat(l.tryAcquire("k", Cost.request()).remaining(limit)).isZero();
        // Now previous·r ≤ (10 − 2 − 1)·P needs r ≤ 7 s: 3 s into the window, 0.5 s from now.
        assertDenied(l.tryAcquire("k", Cost.request()), 500_000);
    }

    @Test
    @DisplayName("Sliding window counter: at the exact window edge the old window becomes the previous one")
    void slidingWindowCounterEdge() {
        skipUnless(Algorithm.SLIDING_WINDOW_COUNTER);
        Limit limit = Limit.of("requests", 10, Duration.ofSeconds(10), Algorithm.SLIDING_WINDOW_COUNTER);
        SluiceLimiter l = limiter(Policy.of(limit));
        grant(l, "k", Cost.requests(5), 1);
        ticker.advance(Duration.ofSeconds(10));
        assertThat(l.tryAcquire("k", Cost.requests(5)).remaining(limit)).as("10 − 5 (previous, full weight) − 5")
                .isZero();
        ticker.advance(Duration.ofSeconds(5));
        assertThat(l.tryAcquire("k", Cost.request()).remaining(limit)).as("10 − 5 × 0.5 − 5 − 1 = 1.5").isEqualTo(1);
    }

    @Test
    @DisplayName("Sliding window counter: one aligned window never holds more than the capacity")
    void slidingWindowCounterCurrentWindowBound() {
        skipUnless(Algorithm.SLIDING_WINDOW_COUNTER);
        SluiceLimiter l = limiter(Policy.of(
                Limit.of("requests", 4, Duration.ofSeconds(10), Algorithm.SLIDING_WINDOW_COUNTER)));
        ticker.advance(Duration.ofSeconds(30)); // previous window empty
        grant(l, "k", Cost.requests(4), 1);
        assertDenied(l.tryAcquire("k", Cost.request()), 10_000_000 + 2_500_000);
    }

    // ---------------------------------------------------------------- token bucket

    @Test
    @DisplayName("Token bucket: a full burst, then refill at the exact rate; the wait is to the microsecond")
    void tokenBucketBurstAndRefill() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        Limit limit = Limit.of("requests", 10, Duration.ofSeconds(1), Algorithm.TOKEN_BUCKET);
        SluiceLimiter l = limiter(Policy.of(limit));
        grant(l, "k", Cost.request(), 10);
        assertDenied(l.tryAcquire("k", Cost.request()), 100_000);
        assertDenied(l.tryAcquire("k", Cost.requests(5)), 500_000);
        ticker.advanceMicros(99_999);
        assertDenied(l.tryAcquire("k", Cost.request()), 1);
        ticker.advanceMicros(1);
        assertThat(l.tryAcquire("k", Cost.request()).remaining(limit)).isZero();
        ticker.advance(Duration.ofMinutes(5));
        assertThat(l.tryAcquire("k", Cost.request()).remaining(limit)).as("never beyond the burst").isEqualTo(9);
    }

    @Test
    @DisplayName("Token bucket: when the clock steps back (a caller behind another), the tokens there are granted, "
            + "none refill, and the wait counts from the later time")
    void tokenBucketClockStepsBack() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        Limit limit = Limit.of("requests", 10, Duration.ofSeconds(1), Algorithm.TOKEN_BUCKET);
        SluiceLimiter l = limiter(Policy.of(limit));
        grant(l, "k", Cost.requests(5), 1);
        ticker.set(ticker.nowMicros() - 1_000);
        assertThat(l.tryAcquire("k", Cost.requests(5)).granted()).as("exactly the 5 tokens left").isTrue();
        assertDenied(l.tryAcquire("k", Cost.request()), 1_000 + 100_000);
    }

    @Test
    @DisplayName("Token bucket: a rate that does not divide the period refills without drift")
    void tokenBucketNoDrift() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        Limit limit = Limit.of("requests", 7, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET);
        SluiceLimiter l = limiter(Policy.of(limit));
        grant(l, "k", Cost.request(), 7);
        // One token per 60/7 s = 8,571,428.57 µs: the first is whole after 8,571,429 µs.
        assertDenied(l.tryAcquire("k", Cost.request()), 8_571_429);
        ticker.advance(Duration.ofMinutes(1));
        assertThat(l.tryAcquire("k", Cost.request()).remaining(limit)).isEqualTo(6);
    }

    @Test
    @DisplayName("Token bucket: the burst can exceed the capacity per period")
    void tokenBucketLargeBurst() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        SluiceLimiter l = limiter(Policy.of(
                Limit.of("requests", 10, Duration.ofSeconds(1), Algorithm.TOKEN_BUCKET).withBurst(25)));
        grant(l, "k", Cost.request(), 25);
        assertDenied(l.tryAcquire("k", Cost.request()), 100_000);
    }

    // ---------------------------------------------------------------- GCRA

    @Test
    @DisplayName("GCRA: with the default burst of 1, grants are spaced by exactly period/capacity")
    void gcraSpacing() {
        skipUnless(Algorithm.GCRA);
        SluiceLimiter l = limiter(Policy.of(Limit.of("requests", 10, Duration.ofSeconds(1), Algorithm.GCRA)));
        grant(l, "k", Cost.request(), 1);
        assertDenied(l.tryAcquire("k", Cost.request()), 100_000);
        ticker.advanceMicros(99_999);
        assertDenied(l.tryAcquire("k", Cost.request()), 1);
        ticker.advanceMicros(1);
        grant(l, "k", Cost.request(), 1);
    }

    @Test
    @DisplayName("GCRA: an interval that does not divide evenly accumulates no drift")
    void gcraNoDrift() {
        skipUnless(Algorithm.GCRA);
        Limit limit = Limit.of("requests", 7, Duration.ofMinutes(1), Algorithm.GCRA).withBurst(7);
        SluiceLimiter l = limiter(Policy.of(limit));
        grant(l, "k", Cost.request(), 7);
        // One unit per 60/7 s: the first is back after 8,571,428.57 µs, all seven after exactly 60 s.
        assertDenied(l.tryAcquire("k", Cost.request()), 8_571_429);
        ticker.advanceMicros(59_999_999);
        assertThat(l.tryAcquire("k", Cost.requests(7)).granted()).isFalse();
        ticker.advanceMicros(1);
        assertThat(l.tryAcquire("k", Cost.requests(7)).granted()).isTrue();
    }

    @Test
    @DisplayName("GCRA: a fraction of a microsecond still owed counts until it is paid")
    void gcraFractionalDebt() {
        skipUnless(Algorithm.GCRA);
        Limit limit = Limit.of("requests", 3, Duration.ofSeconds(1), Algorithm.GCRA).withBurst(3);
        SluiceLimiter l = limiter(Policy.of(limit));
        grant(l, "k", Cost.request(), 1); // paid back after 333,333⅓ µs
        ticker.advanceMicros(333_333);
        Decision d = l.tryAcquire("k", Cost.requests(3));
        assertDenied(d, 1);
        assertThat(d.remaining(limit)).isEqualTo(2);
        ticker.advanceMicros(1);
        assertThat(l.tryAcquire("k", Cost.requests(3)).granted()).isTrue();
    }

    @Test
    @DisplayName("GCRA: a caller that waits each predicted wait is late by at most 1 µs per grant (whole microseconds)")
    void gcraWaitingCallerKeepsPace() {
        skipUnless(Algorithm.GCRA);
        SluiceLimiter l = limiter(Policy.of(Limit.of("requests", 7, Duration.ofMinutes(1), Algorithm.GCRA)));
        long start = ticker.nowMicros();
        for (int i = 0; i < 7; i++) {
            assertThat(l.tryAcquire("k", Cost.request()).granted()).isTrue();
            ticker.advanceMicros(l.tryAcquire("k", Cost.request()).retryAfterMicros());
        }
        assertThat(ticker.nowMicros() - start).isBetween(60_000_000L, 60_000_007L);
    }

    @Test
    @DisplayName("GCRA: a burst admits that many at once, then the emission interval applies")
    void gcraBurst() {
        skipUnless(Algorithm.GCRA);
        SluiceLimiter l = limiter(Policy.of(
                Limit.of("requests", 10, Duration.ofSeconds(1), Algorithm.GCRA).withBurst(3)));
        grant(l, "k", Cost.request(), 3);
        assertDenied(l.tryAcquire("k", Cost.request()), 100_000);
        assertDenied(l.tryAcquire("k", Cost.requests(3)), 300_000);
    }

    // ---------------------------------------------------------------- every algorithm

    @ParameterizedTest
    @EnumSource(Algorithm.class)
    @DisplayName("Every algorithm: a denied attempt consumes nothing")
    void deniedAttemptsConsumeNothing(Algorithm a) {
        skipUnless(a);
        SluiceLimiter l = limiter(Policy.of(limit(a, "requests", 5, Duration.ofSeconds(10))));
        grant(l, "k", Cost.requests(3), 1);
        Decision first = l.tryAcquire("k", Cost.requests(3));
        assertThat(first.granted()).as("3 more of 5, after 3").isFalse();
        for (int i = 0; i < 50; i++) {
            assertThat(Differential.describe(l.tryAcquire("k", Cost.requests(3))))
                    .isEqualTo(Differential.describe(first));
        }
        assertThat(l.tryAcquire("k", Cost.requests(2)).granted()).isTrue();
    }

    @ParameterizedTest
    @EnumSource(Algorithm.class)
    @DisplayName("Every algorithm: retrying after the predicted wait succeeds")
    void retryAfterIsExact(Algorithm a) {
        skipUnless(a);
        Random r = new Random(42 + a.ordinal());
        SluiceLimiter l = limiter(Policy.of(limit(a, "tokens", 50, Duration.ofSeconds(7))));
        int denied = 0;
        for (int i = 0; i < 300; i++) {
            Cost c = Cost.tokens(1 + r.nextInt(50));
            Decision d = l.tryAcquire("k", c);
            if (!d.granted()) {
                denied++;
                assertThat(d.retryAfterMicros()).isPositive();
                ticker.advanceMicros(d.retryAfterMicros() - 1);
                assertThat(l.tryAcquire("k", c).granted()).as("1 µs early must still be denied").isFalse();
                ticker.advanceMicros(1);
                assertThat(l.tryAcquire("k", c).granted()).as("on time must be granted, op %d", i).isTrue();
            }
            ticker.advanceMicros(r.nextInt(300_000));
        }
        assertThat(denied).as("denials whose wait was checked").isGreaterThan(10);
    }

    @ParameterizedTest
    @EnumSource(value = Algorithm.class, names = {"SLIDING_LOG", "GCRA", "TOKEN_BUCKET", "FIXED_WINDOW",
        "SLIDING_WINDOW_COUNTER"})
    @DisplayName("Every algorithm: random traffic never exceeds the algorithm's bound in any window")
    void boundsHoldUnderRandomTraffic(Algorithm a) {
        skipUnless(a);
        Random r = new Random(7 + a.ordinal());
        Limit limit = Limit.of("tokens", 40, Duration.ofSeconds(5), a);
        if (a.hasBurst()) {
            limit = limit.withBurst(a == Algorithm.GCRA ? 8 : 40);
        }
        SluiceLimiter l = limiter(Policy.of(limit));
        List<long[]> grants = new ArrayList<>();
        for (int i = 0; i < 3000; i++) {
            long n = 1 + r.nextInt(8);
            if (l.tryAcquire("k", Cost.tokens(n)).granted()) {
                grants.add(new long[] {ticker.nowMicros(), n});
            }
            ticker.advanceMicros(r.nextInt(4) == 0 ? 0 : r.nextInt(200_000));
        }
        WindowCheck.assertWithinBound(limit, grants);
    }

    // ---------------------------------------------------------------- several limits

    @Test
    @DisplayName("A policy is all or nothing: a limit that denies leaves the others uncharged")
    void allOrNothing() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        Limit requests = Limit.perMinute("requests", 5);
        Limit tokens = Limit.perMinute("tokens", 100);
        SluiceLimiter l = limiter(Policy.of(requests, tokens));
        Cost call = Cost.request().and("tokens", 60);
        Decision first = l.tryAcquire("k", call);
        assertThat(first.remaining(requests)).isEqualTo(4);
        assertThat(first.remaining(tokens)).isEqualTo(40);
        Decision second = l.tryAcquire("k", call);
        assertDenied(second, 12_000_000); // 20 tokens at 100/min
        assertThat(second.boundBy()).isEqualTo(tokens);
        assertThat(second.remaining(requests)).as("requests not charged").isEqualTo(4);
        assertThat(l.tryAcquire("k", Cost.request()).remaining(requests)).isEqualTo(3);
    }

    @Test
    @DisplayName("Several limits: the wait is the longest one, and the limit that needs it is named")
    void longestWaitBinds() {
        skipUnless(Algorithm.FIXED_WINDOW, Algorithm.TOKEN_BUCKET, Algorithm.GCRA);
        Limit perMinute = Limit.of("requests", 15, Duration.ofMinutes(1), Algorithm.GCRA).withBurst(15);
        Limit tokens = Limit.perMinute("tokens", 1_000_000);
        Limit perDay = Limit.perDay("requests", 20);
        SluiceLimiter l = limiter(Policy.of(perMinute, tokens, perDay));
        Cost call = Cost.request().and("tokens", 1200);
        grant(l, "k", call, 15);
        Decision minute = l.tryAcquire("k", call);
        assertDenied(minute, 4_000_000);
        assertThat(minute.boundBy()).isEqualTo(perMinute);
        ticker.advance(Duration.ofMinutes(1));
        grant(l, "k", call, 5);
        Decision day = l.tryAcquire("k", call);
        // The day window is [0, 86,400 s) since the epoch; the clock is at 1,060 s + the grants' 0 s.
        assertDenied(day, 86_400_000_000L - ticker.nowMicros());
        assertThat(day.boundBy()).isEqualTo(perDay);
        assertThat(day.remaining(tokens)).isEqualTo(1_000_000 - 5 * 1200 + 0);
    }

    // ---------------------------------------------------------------- refunds and policy changes

    @ParameterizedTest
    @EnumSource(Algorithm.class)
    @DisplayName("Refund gives units back, never beyond a fresh state")
    void refund(Algorithm a) {
        skipUnless(a);
        Limit limit = limit(a, "tokens", 5, Duration.ofSeconds(10));
        SluiceLimiter l = limiter(Policy.of(limit));
        assertThat(l.refund("untouched", Cost.tokens(3)).remaining(limit)).isEqualTo(5);
        grant(l, "k", Cost.tokens(3), 1);
        assertThat(l.refund("k", Cost.tokens(2)).remaining(limit)).isEqualTo(4);
        assertThat(l.refund("k", Cost.tokens(5)).remaining(limit)).isEqualTo(5);
        grant(l, "k", Cost.tokens(5), 1);
        assertThat(l.tryAcquire("k", Cost.tokens(1)).granted()).isFalse();
    }

    @ParameterizedTest
    @EnumSource(Algorithm.class)
    @DisplayName("Changing a key's policy keeps what it consumed: raised capacity is not a reset")
    void policyChangeKeepsConsumption(Algorithm a) {
        skipUnless(a);
        AtomicReference<Policy> current = new AtomicReference<>(Policy.of(limit(a, "tokens", 5,
                Duration.ofSeconds(10))));
        SluiceLimiter l = SluiceLimiter.builder(backend).policies(k -> current.get()).scheduler(scheduler).build();
        limiters.add(l);
        grant(l, "k", Cost.tokens(3), 1);
        Limit bigger = limit(a, "tokens", 10, Duration.ofSeconds(10));
        current.set(Policy.of(bigger));
        assertThat(l.tryAcquire("k", Cost.tokens(1)).remaining(bigger)).isEqualTo(6);
        Limit smaller = limit(a, "tokens", 2, Duration.ofSeconds(10));
        current.set(Policy.of(smaller));
        assertThat(l.tryAcquire("k", Cost.tokens(1)).granted()).as("4 consumed exceed the new capacity 2").isFalse();
    }

    @Test
    @DisplayName("Changing a limit's algorithm carries the units in use over to the new one")
    void policyChangeAcrossAlgorithms() {
        skipUnless(Algorithm.TOKEN_BUCKET, Algorithm.SLIDING_LOG);
        AtomicReference<Policy> current = new AtomicReference<>(Policy.of(Limit.perMinute("requests", 5)));
        SluiceLimiter l = SluiceLimiter.builder(backend).policies(k -> current.get()).scheduler(scheduler).build();
        limiters.add(l);
        grant(l, "k", Cost.request(), 3);
        Limit log = Limit.of("requests", 5, Duration.ofMinutes(1), Algorithm.SLIDING_LOG);
        current.set(Policy.of(log));
        assertThat(l.tryAcquire("k", Cost.request()).remaining(log)).isEqualTo(1);
    }

    // ---------------------------------------------------------------- shadow mode

    @Test
    @DisplayName("Shadow mode never denies, reports what it would have denied, and charges only real grants")
    void shadowMode() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        Policy enforcing = Policy.of(Limit.of("requests", 2, Duration.ofSeconds(10), Algorithm.TOKEN_BUCKET));
        AtomicReference<Policy> current = new AtomicReference<>(enforcing.withShadow(true));
        SluiceLimiter l = SluiceLimiter.builder(backend).policies(k -> current.get()).scheduler(scheduler).build();
        limiters.add(l);
        List<Reason> reasons = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            Decision d = l.tryAcquire("k", Cost.request());
            assertThat(d.granted()).isTrue();
            reasons.add(d.reason());
            if (d.reason() == Reason.SHADOW_DENIED) {
                assertThat(d.retryAfterMicros()).isEqualTo(5_000_000);
            }
        }
        assertThat(reasons).containsExactly(Reason.GRANTED, Reason.GRANTED, Reason.SHADOW_DENIED,
                Reason.SHADOW_DENIED, Reason.SHADOW_DENIED);
        current.set(enforcing);
        ticker.advance(Duration.ofSeconds(5));
        assertThat(l.tryAcquire("k", Cost.request()).granted()).as("one token back after 5 s").isTrue();
        assertThat(l.tryAcquire("k", Cost.request()).granted()).isFalse();
    }

    // ---------------------------------------------------------------- waiting

    @Test
    @DisplayName("A blocking acquire sleeps once, for exactly the predicted wait")
    void blockingAcquireSleepsOnce() throws InterruptedException {
        skipUnless(Algorithm.TOKEN_BUCKET);
        SluiceLimiter l = limiter(Policy.of(Limit.perSecond("requests", 10)));
        grant(l, "k", Cost.request(), 10);
        long before = ticker.nowMicros();
        Decision d = l.acquire("k", Cost.requests(2), Duration.ofSeconds(1));
        assertThat(d.granted()).isTrue();
        assertThat(scheduler.sleeps()).containsExactly(200_000L);
        assertThat(ticker.nowMicros() - before).isEqualTo(200_000);
    }

    @Test
    @DisplayName("A wait beyond maxWait is refused at once with the predicted wait, charging nothing")
    void waitBeyondDeadlineRefusedAtOnce() throws InterruptedException {
        skipUnless(Algorithm.TOKEN_BUCKET);
        SluiceLimiter l = limiter(Policy.of(Limit.perSecond("requests", 10)));
        grant(l, "k", Cost.request(), 10);
        Decision d = l.acquire("k", Cost.request(), Duration.ofMillis(99));
        assertThat(d.granted()).isFalse();
        assertThat(d.reason()).isEqualTo(Reason.DEADLINE_EXCEEDED);
        assertThat(d.retryAfterMicros()).isEqualTo(100_000);
        assertThat(scheduler.sleeps()).isEmpty();
        CompletableFuture<Decision> f = l.acquireAsync("k", Cost.request(), Duration.ZERO);
        assertThat(f).isCompleted();
        assertThat(f.join().reason()).isEqualTo(Reason.DEADLINE_EXCEEDED);
        ticker.advance(Duration.ofMillis(100));
        assertThat(l.tryAcquire("k", Cost.request()).granted()).isTrue();
    }

    @Test
    @DisplayName("An async acquire holds no thread and completes at exactly the predicted moment")
    void asyncAcquireCompletesOnTime() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        SluiceLimiter l = limiter(Policy.of(Limit.perSecond("requests", 10)));
        grant(l, "k", Cost.request(), 10);
        CompletableFuture<Decision> f = l.acquireAsync("k", Cost.request(), Duration.ofSeconds(5));
        assertThat(f).isNotDone();
        assertThat(scheduler.pending()).isEqualTo(1);
        scheduler.advanceMicros(99_999);
        assertThat(f).isNotDone();
        scheduler.advanceMicros(1);
        assertThat(f).isCompleted();
        assertThat(f.join().reason()).isEqualTo(Reason.GRANTED);
        assertThat(l.tryAcquire("k", Cost.request()).granted()).isFalse();
    }

    @Test
    @DisplayName("An async acquire that loses the race waits again for the new exact wait, within its deadline")
    void asyncAcquireRetriesAfterLosingRace() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        SluiceLimiter l = limiter(Policy.of(Limit.perSecond("requests", 10)));
        grant(l, "k", Cost.request(), 10);
        CompletableFuture<Decision> f = l.acquireAsync("k", Cost.request(), Duration.ofMillis(150));
        scheduler.advanceMicros(99_000);
        ticker.advanceMicros(1_000);
        grant(l, "k", Cost.request(), 1); // someone else takes the token that was due
        scheduler.advanceMicros(0);
        assertThat(f).isCompleted();
        assertThat(f.join().reason()).as("the next token is beyond the 150 ms deadline")
                .isEqualTo(Reason.DEADLINE_EXCEEDED);
    }

    @Test
    @DisplayName("Cancelling an async acquire stops it and charges nothing")
    void cancelledAsyncAcquireChargesNothing() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        Limit limit = Limit.perSecond("requests", 10);
        SluiceLimiter l = limiter(Policy.of(limit));
        grant(l, "k", Cost.request(), 10);
        CompletableFuture<Decision> f = l.acquireAsync("k", Cost.requests(5), Duration.ofSeconds(5));
        assertThat(f.cancel(true)).isTrue();
        assertThat(scheduler.pending()).isZero();
        scheduler.advance(Duration.ofSeconds(1));
        assertThat(l.tryAcquire("k", Cost.request()).remaining(limit)).isEqualTo(9);
    }

    @Test
    @DisplayName("A refund wakes the key's oldest async waiter at once; each woken one granted wakes the next, until"
            + " one does not fit: the waiters behind it are not even looked at")
    void refundWakesWaitersInOrder() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        AtomicInteger looks = new AtomicInteger();
        LimiterBackend counting = new ForwardingBackend(backend) {
            @Override
            public Decision acquire(String key, Policy policy, Cost cost) {
                looks.incrementAndGet();
                return super.acquire(key, policy, cost);
            }
        };
        SluiceLimiter l = SluiceLimiter.builder(counting).scheduler(scheduler)
                .policy(Policy.of(limit(Algorithm.TOKEN_BUCKET, "requests", 4, Duration.ofMinutes(1)))).build();
        limiters.add(l);
        grant(l, "k", Cost.request(), 4);
        List<CompletableFuture<Decision>> w = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            w.add(l.acquireAsync("k", Cost.request(), Duration.ofMinutes(1)));
        }
        assertThat(l.waiting()).isEqualTo(4);

        looks.set(0);
        l.refund("k", Cost.requests(2));
        scheduler.advanceMicros(0); // runs what the refund scheduled for now; no time passes
        assertThat(w.get(0)).as("the oldest waiter").isCompleted();
        assertThat(w.get(0).join().reason()).isEqualTo(Reason.GRANTED);
        assertThat(w.get(1)).as("woken by the oldest, granted the second unit").isCompleted();
        assertThat(w.get(1).join().reason()).isEqualTo(Reason.GRANTED);
        assertThat(w.get(2)).as("nothing left for it: it waits for its predicted moment").isNotDone();
        assertThat(w.get(3)).isNotDone();
        assertThat(looks).as("the two granted and the third, refused; not the fourth").hasValue(3);
        assertThat(l.waiting()).isEqualTo(2);

        l.refund("other", Cost.request());
        scheduler.advanceMicros(0);
        assertThat(w.get(2)).as("a refund on another key wakes nobody here").isNotDone();
        scheduler.advance(Duration.ofSeconds(30)); // a unit every 15 s: one each
        assertThat(w.get(2).join().reason()).isEqualTo(Reason.GRANTED);
        assertThat(w.get(3).join().reason()).isEqualTo(Reason.GRANTED);
        assertThat(l.waiting()).isZero();
    }

    @Test
    @DisplayName("A woken waiter cancelled before it could look passes the wake on to the next waiter")
    void cancelledWakePassesOn() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        SluiceLimiter l = limiter(Policy.of(limit(Algorithm.TOKEN_BUCKET, "requests", 1, Duration.ofMinutes(1))));
        grant(l, "k", Cost.request(), 1);
        CompletableFuture<Decision> woken = l.acquireAsync("k", Cost.request(), Duration.ofMinutes(2));
        CompletableFuture<Decision> next = l.acquireAsync("k", Cost.request(), Duration.ofMinutes(2));
        l.refund("k", Cost.request()); // the oldest's look is scheduled for now, not yet run
        assertThat(woken.cancel(true)).isTrue();
        scheduler.advanceMicros(0);
        assertThat(next).as("given the wake the cancelled waiter did not use").isCompleted();
        assertThat(next.join().reason()).isEqualTo(Reason.GRANTED);
        assertThat(l.waiting()).isZero();
    }

    @Test
    @DisplayName("A cancelled async waiter leaves the queue: a refund wakes the next waiter, not the cancelled one")
    void cancelledWaiterLeavesTheQueue() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        SluiceLimiter l = limiter(Policy.of(limit(Algorithm.TOKEN_BUCKET, "requests", 2, Duration.ofMinutes(1))));
        grant(l, "k", Cost.request(), 2);
        CompletableFuture<Decision> gone = l.acquireAsync("k", Cost.request(), Duration.ofMinutes(1));
        CompletableFuture<Decision> next = l.acquireAsync("k", Cost.request(), Duration.ofMinutes(1));
        CompletableFuture<Decision> last = l.acquireAsync("k", Cost.request(), Duration.ofMinutes(1));
        assertThat(gone.cancel(true)).isTrue();
        assertThat(l.waiting()).isEqualTo(2);

        l.refund("k", Cost.request());
        scheduler.advanceMicros(0);
        assertThat(next).isCompleted();
        assertThat(next.join().reason()).isEqualTo(Reason.GRANTED);
        assertThat(last).as("one unit came back: one waiter is served").isNotDone();
        assertThat(last.cancel(true)).isTrue();
        assertThat(l.waiting()).isZero();
        assertThat(l.tryAcquire("k", Cost.request()).granted()).as("the cancelled waiters took nothing").isFalse();
        ticker.advance(Duration.ofSeconds(30));
        assertThat(l.tryAcquire("k", Cost.request()).granted()).isTrue();
    }

    @Test
    @DisplayName("A blocking acquire on an interrupted thread throws InterruptedException and charges nothing")
    void interruptedAcquire() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        Limit limit = Limit.perSecond("requests", 10);
        SluiceLimiter l = SluiceLimiter.builder(backend).policy(Policy.of(limit)).scheduler(WaitScheduler.system())
                .build();
        limiters.add(l);
        grant(l, "k", Cost.request(), 10);
        Thread.currentThread().interrupt();
        assertThatThrownBy(() -> l.acquire("k", Cost.request(), Duration.ofHours(1)))
                .isInstanceOf(InterruptedException.class);
        assertThat(Thread.interrupted()).isFalse();
        ticker.advance(Duration.ofSeconds(1));
        assertThat(l.tryAcquire("k", Cost.request()).remaining(limit)).isEqualTo(9);
    }

    // ---------------------------------------------------------------- keys

    @Test
    @DisplayName("Keys are independent, whatever characters they hold")
    void oddKeys() {
        skipUnless(Algorithm.TOKEN_BUCKET);
        SluiceLimiter l = limiter(Policy.of(Limit.perMinute("requests", 2)));
        List<String> keys = List.of("a", "{a}", "a b", "a\nb", "ключ-🔑", "x".repeat(65_536), "a:b", "*", "\u0000");
        for (String k : keys) {
            grant(l, k, Cost.request(), 2);
        }
        for (String k : keys) {
            assertThat(l.tryAcquire(k, Cost.request()).granted()).as("key %s", k.length()).isFalse();
        }
    }

    // ---------------------------------------------------------------- bad input

    @Test
    @DisplayName("Bad keys, costs and waits are refused with an IllegalArgumentException naming the value; nothing is charged")
    void badInput() {
        skipUnless(Algorithm.TOKEN_BUCKET, Algorithm.GCRA);
        Limit requests = Limit.perMinute("requests", 5);
        Limit tokens = Limit.of("tokens", 1000, Duration.ofMinutes(1), Algorithm.GCRA).withBurst(100);
        SluiceLimiter l = limiter(Policy.of(requests, tokens));
        assertThatThrownBy(() -> l.tryAcquire(null, Cost.request())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("null");
        assertThatThrownBy(() -> l.tryAcquire("", Cost.request())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("empty");
        assertThatThrownBy(() -> l.tryAcquire("k", null)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> l.tryAcquire("k", Cost.of("images", 1))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("images");
        assertThatThrownBy(() -> l.tryAcquire("k", Cost.requests(6))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("6").hasMessageContaining("never");
        assertThatThrownBy(() -> l.tryAcquire("k", Cost.request().and("tokens", 101)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("101");
        assertThatThrownBy(() -> l.tryAcquire("k", Cost.tokens(Long.MAX_VALUE)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(String.valueOf(Long.MAX_VALUE));
        assertThatThrownBy(() -> l.acquire("k", Cost.request(), Duration.ofSeconds(-1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("-1");
        assertThatThrownBy(() -> l.acquireAsync("k", Cost.request(), Duration.ofSeconds(-1)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> l.refund("k", Cost.of("images", 1))).isInstanceOf(IllegalArgumentException.class);
        Decision d = l.tryAcquire("k", Cost.request().and("tokens", 100));
        assertThat(d.remaining(requests)).as("nothing charged by the refused calls").isEqualTo(4);
        assertThat(d.remaining(tokens)).isZero();
        assertThat(backend.liveKeys()).isIn(-1L, 1L);
    }

    @Test
    @DisplayName("Bad limits, policies and costs are refused when built, naming the bad value")
    void badDefinitions() {
        assertThatThrownBy(() -> Limit.of("requests", 5, Duration.ZERO, Algorithm.GCRA))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("PT0S");
        assertThatThrownBy(() -> Limit.of("requests", 5, Duration.ofSeconds(-3), Algorithm.GCRA))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("PT-3S");
        assertThatThrownBy(() -> Limit.of("requests", 0, Duration.ofSeconds(1), Algorithm.GCRA))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0");
        assertThatThrownBy(() -> Limit.of("requests", -7, Duration.ofSeconds(1), Algorithm.GCRA))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("-7");
        assertThatThrownBy(() -> Limit.of("tokens", Long.MAX_VALUE, Duration.ofDays(1), Algorithm.TOKEN_BUCKET))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(String.valueOf(Long.MAX_VALUE));
        assertThatThrownBy(() -> Limit.of("tokens", 1 << 20, Duration.ofMinutes(1), Algorithm.SLIDING_LOG))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("SLIDING_LOG");
        assertThatThrownBy(() -> Limit.perMinute("requests", 5).withBurst(0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0");
        assertThatThrownBy(() -> Limit.perDay("requests", 5).withBurst(3))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("FIXED_WINDOW");
        assertThatThrownBy(() -> Limit.of("to kens", 5, Duration.ofSeconds(1), Algorithm.GCRA))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("to kens");
        assertThatThrownBy(() -> Policy.of()).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Policy.of(Limit.perMinute("requests", 5), Limit.perMinute("requests", 5)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("twice");
        assertThatThrownBy(() -> Cost.tokens(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("0");
        assertThatThrownBy(() -> Cost.tokens(-5)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("-5");
        assertThatThrownBy(() -> Cost.tokens(5).and("tokens", 1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("twice");
        assertThatThrownBy(() -> SluiceLimiter.builder(backend).build()).isInstanceOf(IllegalStateException.class);
    }

    // ---------------------------------------------------------------- differential

    @Test
    @DisplayName("Differential: thousands of random sequences decide exactly as the reference does")
    void differential() {
        assumeTrue(matchesReference(), "backend does not claim reference-exact decisions");
        List<Algorithm> algorithms = Arrays.stream(Algorithm.values()).filter(this::supports).toList();
        long base = Long.getLong("sluice.differential.seed", 20261127L);
        for (int i = 0; i < differentialSequences(); i++) {
            long seed = base + i;
            Differential.Scenario s = Differential.generate(seed, 120, algorithms, !forgetsIdleKeys());
            Differential.Mismatch m = Differential.replay(s, this::createBackend, this::housekeeping);
            if (m != null) {
                Differential.Scenario shrunk = Differential.shrink(s, m, this::createBackend, this::housekeeping, 400);
                Differential.Mismatch sm = Differential.replay(shrunk, this::createBackend, this::housekeeping);
                throw new AssertionError(Differential.report(shrunk, sm != null ? sm : m));
            }
        }
    }

    // ---------------------------------------------------------------- concurrency

    @ParameterizedTest
    @EnumSource(Algorithm.class)
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    @DisplayName("Concurrency: 8 threads on 2 limiters over one backend never admit more than the limit allows")
    void concurrentCallersStayWithinTheLimit(Algorithm a) throws Exception {
        skipUnless(a);
        Limit limit = Limit.of("requests", 20, Duration.ofSeconds(2), a);
        if (a.hasBurst()) {
            limit = limit.withBurst(a == Algorithm.GCRA ? 4 : 20);
        }
        Policy policy = Policy.of(limit);
        SluiceLimiter[] instances = {limiter(policy), limiter(policy)};
        String[] keys = {"shared-1", "shared-2"};
        int threads = 8;
        int phases = 60;
        int attempts = 40;
        Random r = new Random(99 + a.ordinal());
        PhasedLoad.Worker worker = (thread, phase, own, recorder) -> {
            for (int i = 0; i < attempts; i++) {
                int k = own.nextInt(keys.length);
                if (instances[thread % 2].tryAcquire(keys[k], Cost.request()).granted()) {
                    recorder.granted(k, 1);
                }
            }
        };
        PhasedLoad.Result load = PhasedLoad.run(ticker, threads, phases, keys.length, worker,
                phase -> r.nextInt(5) == 0 ? 0 : r.nextInt(700_000), null);
        for (int k = 0; k < keys.length; k++) {
            WindowCheck.assertWithinBound(limit, load.grants(k));
        }
        assertThat(load.total()).as("the limit admitted something").isPositive();
    }
}

package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Decision.Reason;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.testkit.ManualScheduler;
import dev.sluice.testkit.PhasedLoad;
import dev.sluice.testkit.WindowCheck;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Bucket4jBackend} on a {@link ManualTicker}: no test sleeps. Expected numbers are worked out by hand from the
 * token bucket's definition (burst {@code b}, refill of {@code capacity} per period), not read back from the backend.
 *
 * <p>About waits: Bucket4j computes the wait in nanoseconds and the backend rounds it up to whole microseconds; its
 * Javadoc allows a wait to differ from the reference's by one microsecond. Where the exact wait is a whole number of
 * microseconds {@code w}, the tests accept {@code w} or {@code w + 1} as the reported value, and separately check the
 * behaviour that matters: one microsecond before {@code w} the call is still denied, and after the reported wait it is
 * granted.
 */
class Bucket4jBackendTest {

    private static final String KEY = "tenant-1";

    private ManualTicker ticker;
    private ManualScheduler scheduler;
    private Bucket4jBackend backend;
    private final List<SluiceLimiter> limiters = new ArrayList<>();

    @BeforeEach
    void setUp() {
        ticker = new ManualTicker();
        scheduler = new ManualScheduler(ticker);
        backend = Bucket4jBackend.create(ticker, 100_000);
    }

    @AfterEach
    void tearDown() {
        limiters.forEach(SluiceLimiter::close);
        backend.close();
    }

    private SluiceLimiter limiter(Policy policy) {
        SluiceLimiter l = SluiceLimiter.builder(backend).policy(policy).scheduler(scheduler).build();
        limiters.add(l);
        return l;
    }

    private SluiceLimiter limiter(AtomicReference<Policy> current) {
        SluiceLimiter l = SluiceLimiter.builder(backend).policies(key -> current.get()).scheduler(scheduler).build();
        limiters.add(l);
        return l;
    }

    /** Tries {@code attempts} single requests at the current instant and returns how many were granted. */
    private static int grantsNow(SluiceLimiter l, String key, Cost cost, int attempts) {
        int granted = 0;
        for (int i = 0; i < attempts; i++) {
            if (l.tryAcquire(key, cost).granted()) {
                granted++;
            }
        }
        return granted;
    }

    // ---------------------------------------------------------------- basic token bucket

    @Test
    @DisplayName("10/s: grants 10, denies the 11th with a 100 ms wait, and grants again after that wait")
    void grantsTheBurstThenDeniesWithTheRefillWait() {
        Limit limit = Limit.perSecond("requests", 10);
        SluiceLimiter l = limiter(Policy.of(limit));

        for (int i = 0; i < 10; i++) {
            Decision d = l.tryAcquire(KEY, Cost.request());
            assertThat(d.reason()).as("grant %d", i + 1).isEqualTo(Reason.GRANTED);
            assertThat(d.remaining(0)).as("remaining after grant %d", i + 1).isEqualTo(9 - i);
            assertThat(d.retryAfterMicros()).isZero();
        }

        Decision denied = l.tryAcquire(KEY, Cost.request());
        assertThat(denied.reason()).isEqualTo(Reason.RATE_LIMITED);
        assertThat(denied.granted()).isFalse();
        assertThat(denied.remaining(0)).isZero();
        assertThat(denied.boundBy()).isEqualTo(limit);
        // One token every 1 s / 10 = 100,000 µs exactly; Bucket4j says 100,000,000 ns, rounded up to 100,000 µs.
        // 100,001 µs is tolerated (the documented one-microsecond rounding), nothing else.
        assertThat(denied.retryAfterMicros()).isBetween(100_000L, 100_001L);
        assertThat(denied.retryAfter()).isEqualTo(Duration.ofNanos(denied.retryAfterMicros() * 1000));

        ticker.advanceMicros(99_999);
        Decision early = l.tryAcquire(KEY, Cost.request());
        assertThat(early.reason()).as("1 µs before the token is refilled").isEqualTo(Reason.RATE_LIMITED);
        assertThat(early.retryAfterMicros()).isBetween(1L, 2L);

        ticker.advanceMicros(denied.retryAfterMicros() - 99_999);
        Decision again = l.tryAcquire(KEY, Cost.request());
        assertThat(again.reason()).as("after the predicted wait").isEqualTo(Reason.GRANTED);
        assertThat(again.remaining(0)).isZero();

        Decision next = l.tryAcquire(KEY, Cost.request());
        assertThat(next.reason()).as("only one token was refilled").isEqualTo(Reason.RATE_LIMITED);
        assertThat(next.retryAfterMicros()).isBetween(100_000L - 1, 100_001L);
    }

    @Test
    @DisplayName("A cost of several units waits for all of them: 4 units at 10/s need 400 ms")
    void multiUnitCostWaitsForAllUnits() {
        SluiceLimiter l = limiter(Policy.of(Limit.perSecond("requests", 10)));
        assertThat(l.tryAcquire(KEY, Cost.requests(8)).remaining(0)).isEqualTo(2);

        Decision denied = l.tryAcquire(KEY, Cost.requests(6));
        assertThat(denied.reason()).isEqualTo(Reason.RATE_LIMITED);
        assertThat(denied.remaining(0)).as("a denial charges nothing").isEqualTo(2);
        assertThat(denied.retryAfterMicros()).isBetween(400_000L, 400_001L);

        ticker.advanceMicros(399_999);
        assertThat(l.tryAcquire(KEY, Cost.requests(6)).reason()).isEqualTo(Reason.RATE_LIMITED);
        ticker.advanceMicros(1);
        Decision granted = l.tryAcquire(KEY, Cost.requests(6));
        assertThat(granted.reason()).isEqualTo(Reason.GRANTED);
        assertThat(granted.remaining(0)).isZero();
    }

    @Test
    @DisplayName("A blocking acquire sleeps once, for exactly the predicted wait, and a too-short deadline charges nothing")
    void blockingAcquireSleepsThePredictedWait() throws InterruptedException {
        SluiceLimiter l = limiter(Policy.of(Limit.perSecond("requests", 10)));
        assertThat(l.tryAcquire(KEY, Cost.requests(10)).granted()).isTrue();
        long start = ticker.nowMicros();

        Decision refused = l.acquire(KEY, Cost.request(), Duration.ofMillis(50));
        assertThat(refused.reason()).isEqualTo(Reason.DEADLINE_EXCEEDED);
        assertThat(refused.retryAfterMicros()).isBetween(100_000L, 100_001L);
        assertThat(scheduler.sleeps()).isEmpty();
        assertThat(ticker.nowMicros()).isEqualTo(start);

        Decision d = l.acquire(KEY, Cost.request(), Duration.ofSeconds(1));
        assertThat(d.reason()).isEqualTo(Reason.GRANTED);
        assertThat(scheduler.sleeps()).as("one sleep, of the predicted wait").containsExactly(refused.retryAfterMicros());
        assertThat(ticker.nowMicros() - start).isEqualTo(refused.retryAfterMicros());
    }

    // ---------------------------------------------------------------- burst

    @Test
    @DisplayName("withBurst: a bucket never refills beyond its burst, however long it rests")
    void refillNeverExceedsTheBurst() {
        SluiceLimiter small = limiter(Policy.of(Limit.perSecond("requests", 10).withBurst(4)));
        assertThat(grantsNow(small, "small", Cost.request(), 20)).as("fresh: the burst, not the capacity").isEqualTo(4);
        ticker.advance(Duration.ofMillis(200));
        assertThat(grantsNow(small, "small", Cost.request(), 20)).as("200 ms at 10/s").isEqualTo(2);
        ticker.advance(Duration.ofSeconds(30));
        assertThat(grantsNow(small, "small", Cost.request(), 20)).as("after 30 s of rest: still the burst").isEqualTo(4);

        SluiceLimiter large = limiter(Policy.of(Limit.perSecond("requests", 10).withBurst(25)));
        assertThat(grantsNow(large, "large", Cost.request(), 100)).as("fresh: the burst").isEqualTo(25);
        ticker.advance(Duration.ofSeconds(1));
        assertThat(grantsNow(large, "large", Cost.request(), 100)).as("1 s at 10/s").isEqualTo(10);
        ticker.advance(Duration.ofSeconds(60));
        Decision first = large.tryAcquire("large", Cost.request());
        assertThat(first.remaining(0)).as("after 60 s of rest: burst 25, minus the one just taken").isEqualTo(24);
        assertThat(grantsNow(large, "large", Cost.request(), 100)).isEqualTo(24);
    }

    // ---------------------------------------------------------------- refund

    @Test
    @DisplayName("Refund gives units back, never beyond the burst")
    void refundGivesTokensBackCappedAtTheBurst() {
        SluiceLimiter l = limiter(Policy.of(Limit.perMinute("requests", 10)));
        assertThat(l.tryAcquire(KEY, Cost.requests(6)).remaining(0)).isEqualTo(4);

        Decision refunded = l.refund(KEY, Cost.requests(3));
        assertThat(refunded.reason()).isEqualTo(Reason.REFUNDED);
        assertThat(refunded.remaining(0)).isEqualTo(7);
        assertThat(grantsNow(l, KEY, Cost.request(), 20)).as("7 available after the refund").isEqualTo(7);

        // Now empty: refund more than was ever taken since the last refill.
        Decision capped = l.refund(KEY, Cost.requests(10));
        assertThat(capped.remaining(0)).isEqualTo(10);
        Decision over = l.refund(KEY, Cost.requests(5));
        assertThat(over.remaining(0)).as("capped at the burst of 10, not 15").isEqualTo(10);
        assertThat(grantsNow(l, KEY, Cost.request(), 30)).as("exactly the burst after over-refunding").isEqualTo(10);
    }

    @Test
    @DisplayName("Refund is capped at a custom burst, and a refund to an unknown key creates no state")
    void refundCappedAtCustomBurstAndUnknownKey() {
        SluiceLimiter l = limiter(Policy.of(Limit.perMinute("requests", 10).withBurst(3)));
        Decision unknown = l.refund("never-seen", Cost.requests(2));
        assertThat(unknown.reason()).isEqualTo(Reason.REFUNDED);
        assertThat(unknown.remaining(0)).isEqualTo(3);
        assertThat(backend.liveKeys()).isZero();

        assertThat(l.tryAcquire(KEY, Cost.requests(2)).remaining(0)).isEqualTo(1);
        assertThat(l.refund(KEY, Cost.requests(3)).remaining(0)).as("1 + 3 capped at burst 3").isEqualTo(3);
        assertThat(grantsNow(l, KEY, Cost.request(), 10)).isEqualTo(3);
    }

    @Test
    @DisplayName("Refund of one dimension leaves the other dimension alone")
    void refundOfOneDimension() {
        Policy p = Policy.of(Limit.perMinute("requests", 10), Limit.perMinute("tokens", 1000));
        SluiceLimiter l = limiter(p);
        Decision d = l.tryAcquire(KEY, Cost.request().and("tokens", 800));
        assertThat(d.remaining("requests")).isEqualTo(9);
        assertThat(d.remaining("tokens")).isEqualTo(200);

        Decision r = l.refund(KEY, Cost.tokens(500));
        assertThat(r.remaining("requests")).isEqualTo(9);
        assertThat(r.remaining("tokens")).isEqualTo(700);
    }

    // ---------------------------------------------------------------- several dimensions, several limits

    @Test
    @DisplayName("requests/min + tokens/min: when tokens deny, the requests bucket is not charged")
    void tokenDenialDoesNotChargeRequests() {
        Limit requests = Limit.perMinute("requests", 10);
        Limit tokens = Limit.perMinute("tokens", 1000);
        SluiceLimiter l = limiter(Policy.of(requests, tokens));

        Decision first = l.tryAcquire(KEY, Cost.request().and("tokens", 900));
        assertThat(first.reason()).isEqualTo(Reason.GRANTED);
        assertThat(first.remaining(requests)).isEqualTo(9);
        assertThat(first.remaining(tokens)).isEqualTo(100);

        Decision denied = l.tryAcquire(KEY, Cost.request().and("tokens", 200));
        assertThat(denied.reason()).isEqualTo(Reason.RATE_LIMITED);
        assertThat(denied.boundBy()).isEqualTo(tokens);
        assertThat(denied.remaining(requests)).as("requests not charged").isEqualTo(9);
        assertThat(denied.remaining(tokens)).isEqualTo(100);
        // 100 missing tokens at 1000 per 60 s: 6 s exactly.
        assertThat(denied.retryAfterMicros()).isBetween(6_000_000L, 6_000_001L);

        // Still 9 requests afterwards: the refusal gave the request back.
        Decision probe = l.tryAcquire(KEY, Cost.request());
        assertThat(probe.remaining(requests)).isEqualTo(8);
        assertThat(probe.remaining(tokens)).isEqualTo(100);
        assertThat(grantsNow(l, KEY, Cost.request(), 20)).as("the 8 requests left").isEqualTo(8);

        // Requests exhausted now: a request denial charges no tokens either.
        Decision byRequests = l.tryAcquire(KEY, Cost.request().and("tokens", 50));
        assertThat(byRequests.reason()).isEqualTo(Reason.RATE_LIMITED);
        assertThat(byRequests.boundBy()).isEqualTo(requests);
        assertThat(byRequests.remaining(tokens)).isEqualTo(100);
        // one request at 10 per 60 s: 6 s.
        assertThat(byRequests.retryAfterMicros()).isBetween(6_000_000L, 6_000_001L);
        assertThat(l.tryAcquire(KEY, Cost.tokens(100)).remaining(tokens)).as("tokens untouched").isZero();
    }

    @Test
    @DisplayName("Repeated token denials never leak requests (1000 refusals, then the full request budget is left)")
    void repeatedDenialsNeverLeak() {
        Limit requests = Limit.perMinute("requests", 10);
        Limit tokens = Limit.perMinute("tokens", 1000);
        SluiceLimiter l = limiter(Policy.of(requests, tokens));
        assertThat(l.tryAcquire(KEY, Cost.tokens(1000)).granted()).isTrue();
        for (int i = 0; i < 1000; i++) {
            assertThat(l.tryAcquire(KEY, Cost.request().and("tokens", 1)).granted()).isFalse();
        }
        assertThat(grantsNow(l, KEY, Cost.request(), 50)).isEqualTo(10);
    }

    @Test
    @DisplayName("Several limits on one dimension (3/s and 5/min) both apply")
    void severalLimitsOnOneDimensionBothApply() {
        Limit perSecond = Limit.perSecond("requests", 3);
        Limit perMinute = Limit.perMinute("requests", 5);
        SluiceLimiter l = limiter(Policy.of(perSecond, perMinute));

        assertThat(grantsNow(l, KEY, Cost.request(), 3)).isEqualTo(3);
        Decision bySecond = l.tryAcquire(KEY, Cost.request());
        assertThat(bySecond.reason()).as("the per-second limit binds first").isEqualTo(Reason.RATE_LIMITED);
        // 1 s / 3 = 333,333.3 µs: the first whole microsecond that suffices is 333,334.
        assertThat(bySecond.retryAfterMicros()).isBetween(333_334L, 333_335L);
        assertThat(bySecond.remaining(perSecond)).isZero();

        // 1 s later the per-second bucket is full (3) but the per-minute one holds 5 - 3 + 5/60 = 2.083.
        ticker.advance(Duration.ofSeconds(1));
        assertThat(grantsNow(l, KEY, Cost.request(), 2)).isEqualTo(2);
        Decision byMinute = l.tryAcquire(KEY, Cost.request());
        assertThat(byMinute.reason()).as("the per-minute limit binds now, with a token left per second")
                .isEqualTo(Reason.RATE_LIMITED);
        // 1/12 of a token left at 5 per 60 s (12 s per token): 11 s to the next whole token.
        assertThat(byMinute.retryAfterMicros()).isBetween(11_000_000L, 11_000_001L);
        assertThat(byMinute.remaining("requests")).as("the fewest left on the dimension").isZero();

        ticker.advanceMicros(10_999_999);
        assertThat(l.tryAcquire(KEY, Cost.request()).granted()).isFalse();
        ticker.advanceMicros(byMinute.retryAfterMicros() - 10_999_999);
        assertThat(l.tryAcquire(KEY, Cost.request()).granted()).isTrue();
        assertThat(l.tryAcquire(KEY, Cost.request()).granted()).as("one per-minute token only").isFalse();

        // Over the whole run: at most burst + span × rate for each limit.
        ticker.advance(Duration.ofMinutes(5));
        List<long[]> grants = new ArrayList<>();
        for (int s = 0; s < 120; s++) {
            int n = grantsNow(l, KEY, Cost.request(), 5);
            if (n > 0) {
                grants.add(new long[] {ticker.nowMicros(), n});
            }
            assertThat(n).as("never more than 3 in one instant").isLessThanOrEqualTo(3);
            ticker.advance(Duration.ofMillis(500));
        }
        WindowCheck.assertWithinBound(perSecond, grants);
        WindowCheck.assertWithinBound(perMinute, grants);
        long total = grants.stream().mapToLong(g -> g[1]).sum();
        // 60 s at 5/min: burst 5 + 59.5 s × 5/60 ≈ 9.96, so 9 grants (whole tokens only).
        assertThat(total).isEqualTo(9);
    }

    @Test
    @DisplayName("boundBy names the limit of the dimension that actually binds")
    void boundByNamesTheBindingLimitOfTheDimension() {
        Limit perSecond = Limit.perSecond("requests", 3);
        Limit perMinute = Limit.perMinute("requests", 5);
        SluiceLimiter l = limiter(Policy.of(perSecond, perMinute));
        assertThat(grantsNow(l, KEY, Cost.request(), 3)).isEqualTo(3);
        ticker.advance(Duration.ofSeconds(1));
        assertThat(grantsNow(l, KEY, Cost.request(), 2)).isEqualTo(2);

        Decision byMinute = l.tryAcquire(KEY, Cost.request());
        assertThat(byMinute.retryAfterMicros()).isBetween(11_000_000L, 11_000_001L);
        assertThat(byMinute.boundBy()).isEqualTo(perMinute);
    }

    @Test
    @DisplayName("boundBy names the limit whose wait retryAfter reports")
    void boundByNamesTheLongestWaitAcrossDimensions() {
        Limit requests = Limit.perMinute("requests", 2);
        Limit tokens = Limit.perMinute("tokens", 1000);
        SluiceLimiter l = limiter(Policy.of(requests, tokens));
        assertThat(l.tryAcquire(KEY, Cost.requests(2).and("tokens", 1000)).granted()).isTrue();

        Decision d = l.tryAcquire(KEY, Cost.request().and("tokens", 1000));
        assertThat(d.reason()).isEqualTo(Reason.RATE_LIMITED);
        // requests: 1 at 2/min = 30 s; tokens: 1000 at 1000/min = 60 s. The retry must wait for both.
        assertThat(d.retryAfterMicros()).isBetween(60_000_000L, 60_000_001L);
        assertThat(d.boundBy()).isEqualTo(tokens);
    }

    // ---------------------------------------------------------------- policy changes

    @Test
    @DisplayName("A policy change keeps consumption (ADDITIVE): 3 of 5 used, then capacity 10 leaves 7")
    void policyChangeKeepsConsumption() {
        AtomicReference<Policy> current = new AtomicReference<>(Policy.of(Limit.perMinute("requests", 5)));
        SluiceLimiter l = limiter(current);
        assertThat(grantsNow(l, KEY, Cost.request(), 3)).isEqualTo(3);
        assertThat(l.tryAcquire(KEY, Cost.requests(2)).remaining(0)).as("2 left of 5, checked by taking them")
                .isZero();
        assertThat(l.refund(KEY, Cost.requests(2)).remaining(0)).isEqualTo(2);

        current.set(Policy.of(Limit.perMinute("requests", 10)));
        Decision afterChange = l.tryAcquire(KEY, Cost.request());
        assertThat(afterChange.reason()).isEqualTo(Reason.GRANTED);
        assertThat(afterChange.policy()).isEqualTo(current.get());
        assertThat(afterChange.remaining(0)).as("2 + (10 - 5) = 7 before this grant").isEqualTo(6);
        assertThat(grantsNow(l, KEY, Cost.request(), 20)).isEqualTo(6);
        assertThat(backend.liveKeys()).as("the key's state was adopted, not duplicated").isEqualTo(1);
    }

    @Test
    @DisplayName("A policy change that shrinks the bucket keeps the tokens left, capped at the new burst (documented)")
    void policyChangeToSmallerBucket() {
        AtomicReference<Policy> current = new AtomicReference<>(Policy.of(Limit.perMinute("requests", 10)));
        SluiceLimiter l = limiter(current);
        assertThat(grantsNow(l, KEY, Cost.request(), 8)).isEqualTo(8);

        current.set(Policy.of(Limit.perMinute("requests", 5)));
        // 2 left, at most the new burst of 5: never back to full. The reference keeps the 8 used: max(0, 5 − 8) = 0.
        assertThat(grantsNow(l, KEY, Cost.request(), 20)).isEqualTo(2);
    }

    @Test
    @DisplayName("Reordering the same limits keeps consumption")
    void reorderingLimitsKeepsConsumption() {
        Limit perMinute = Limit.perMinute("requests", 10);
        Limit perSecond = Limit.perSecond("requests", 3);
        AtomicReference<Policy> current = new AtomicReference<>(Policy.of(perMinute, perSecond));
        SluiceLimiter l = limiter(current);
        assertThat(grantsNow(l, KEY, Cost.request(), 5)).isEqualTo(3);

        current.set(Policy.of(perSecond, perMinute));
        assertThat(grantsNow(l, KEY, Cost.request(), 5))
                .as("the per-second limit is still exhausted at the same instant").isZero();
    }

    @Test
    @DisplayName("Adding a limit to a dimension keeps the consumption of its existing limit")
    void addingALimitKeepsConsumptionOfTheExistingOne() {
        Limit perMinute = Limit.perMinute("requests", 10);
        AtomicReference<Policy> current = new AtomicReference<>(Policy.of(perMinute));
        SluiceLimiter l = limiter(current);
        assertThat(grantsNow(l, KEY, Cost.request(), 8)).isEqualTo(8);

        current.set(Policy.of(Limit.perSecond("requests", 3), perMinute));
        List<long[]> grants = new ArrayList<>();
        grants.add(new long[] {ticker.nowMicros(), 8});
        int now = grantsNow(l, KEY, Cost.request(), 5);
        assertThat(now).as("the per-minute limit has 2 left").isLessThanOrEqualTo(2);
        grants.set(0, new long[] {ticker.nowMicros(), 8 + now});
        for (int s = 1; s <= 10; s++) {
            ticker.advance(Duration.ofSeconds(1));
            grants.add(new long[] {ticker.nowMicros(), grantsNow(l, KEY, Cost.request(), 5)});
        }
        WindowCheck.assertWithinBound(perMinute, grants);
    }

    // ---------------------------------------------------------------- refused algorithms

    @ParameterizedTest
    @EnumSource(value = Algorithm.class, names = "TOKEN_BUCKET", mode = EnumSource.Mode.EXCLUDE)
    @DisplayName("Policies with a non-TOKEN_BUCKET limit are refused with IllegalArgumentException naming the algorithm")
    void refusesOtherAlgorithms(Algorithm a) {
        Limit other = Limit.of("requests", 10, Duration.ofSeconds(1), a);
        SluiceLimiter alone = limiter(Policy.of(other));
        assertThatThrownBy(() -> alone.tryAcquire(KEY, Cost.request()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(a.name());

        SluiceLimiter mixed = limiter(Policy.of(Limit.perSecond("requests", 10), Limit.of("tokens", 100,
                Duration.ofMinutes(1), a)));
        assertThatThrownBy(() -> mixed.tryAcquire(KEY, Cost.request().and("tokens", 1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(a.name());
        assertThatThrownBy(() -> backend.acquire(KEY, Policy.of(other), Cost.request()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(a.name());
        assertThat(backend.liveKeys()).as("nothing stored for a refused policy").isZero();
    }

    @Test
    @DisplayName("Switching an existing key to a non-TOKEN_BUCKET policy is refused and leaves its state intact")
    void refusedPolicyChangeLeavesStateIntact() {
        AtomicReference<Policy> current = new AtomicReference<>(Policy.of(Limit.perMinute("requests", 10)));
        SluiceLimiter l = limiter(current);
        assertThat(grantsNow(l, KEY, Cost.request(), 4)).isEqualTo(4);

        Policy before = current.get();
        current.set(Policy.of(Limit.perDay("requests", 10)));
        assertThatThrownBy(() -> l.tryAcquire(KEY, Cost.request()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("FIXED_WINDOW");

        current.set(before);
        assertThat(grantsNow(l, KEY, Cost.request(), 20)).isEqualTo(6);
    }

    @Test
    @DisplayName("create refuses a non-positive maxKeys")
    void createRefusesNonPositiveMaxKeys() {
        assertThatThrownBy(() -> Bucket4jBackend.create(ticker, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("maxKeys");
    }

    // ---------------------------------------------------------------- idle keys

    @Test
    @DisplayName("Idle keys expire once their buckets could have refilled, and not before")
    void idleKeysExpire() {
        SluiceLimiter l = limiter(Policy.of(Limit.perSecond("requests", 10)));
        for (int i = 0; i < 1000; i++) {
            assertThat(l.tryAcquire("key-" + i, Cost.requests(10)).granted()).isTrue();
        }
        assertThat(backend.liveKeys()).isEqualTo(1000);

        // 900 ms later each bucket holds 9 of 10: the state still matters, so it is kept.
        ticker.advance(Duration.ofMillis(900));
        assertThat(backend.liveKeys()).isEqualTo(1000);
        assertThat(grantsNow(l, "key-0", Cost.request(), 20)).as("not forgotten while refilling").isEqualTo(9);

        // Well beyond the refill time (1 s) plus the backend's margin (one period) and Caffeine's timer resolution.
        ticker.advance(Duration.ofSeconds(10));
        assertThat(backend.liveKeys()).isZero();
        // An expired key comes back fresh: full burst.
        assertThat(grantsNow(l, "key-1", Cost.request(), 20)).isEqualTo(10);
        assertThat(backend.liveKeys()).isEqualTo(1);
    }

    @Test
    @DisplayName("A key in use is never expired, however long it lives")
    void activeKeysAreKept() {
        SluiceLimiter l = limiter(Policy.of(Limit.perSecond("requests", 10)));
        assertThat(l.tryAcquire(KEY, Cost.requests(10)).granted()).isTrue();
        for (int i = 0; i < 50; i++) {
            ticker.advance(Duration.ofMillis(500));
            assertThat(l.tryAcquire(KEY, Cost.requests(5)).granted()).as("step %d", i).isTrue();
            assertThat(l.tryAcquire(KEY, Cost.request()).granted()).as("step %d: 5 refilled, 5 taken", i).isFalse();
        }
        assertThat(backend.liveKeys()).isEqualTo(1);
    }

    // ---------------------------------------------------------------- concurrency

    /**
     * 20 per 2 s is the compatibility kit's scenario. 2,000 per 200 ms refills fully between most phases, so the eight
     * threads race for 2,000 units in nearly every phase: that is what catches a bucket that is not thread-safe
     * (checked by swapping Bucket4j's lock-free bucket for its unsynchronized one, which then admits more than 2,000
     * in one instant).
     */
    @ParameterizedTest(name = "{0} per {1} ms")
    @CsvSource({"20, 2000", "2000, 200"})
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    @DisplayName("Concurrency: 8 threads on 2 limiters over one backend and one key stay within burst + span × rate")
    void concurrentCallersStayWithinTheLimit(int burst, long periodMillis) throws Exception {
        Limit limit = Limit.of("requests", burst, Duration.ofMillis(periodMillis), Algorithm.TOKEN_BUCKET)
                .withBurst(burst);
        Policy policy = Policy.of(limit);
        SluiceLimiter[] instances = {limiter(policy), limiter(policy)};
        String key = "shared";
        int threads = 8;
        int phases = 150;
        int attempts = Math.max(40, burst / 5); // 8 × attempts per phase: well above the burst
        Random r = new Random(2024 + burst);
        PhasedLoad.Worker worker = (thread, phase, random, recorder) -> {
            for (int i = 0; i < attempts; i++) {
                if (instances[thread % 2].tryAcquire(key, Cost.request()).granted()) {
                    recorder.granted(0, 1);
                }
            }
        };
        PhasedLoad.Result load = PhasedLoad.run(ticker, threads, phases, 1, worker,
                phase -> r.nextInt(5) == 0 ? 0 : r.nextInt(700_000), null);

        long[] perPhase = load.unitsPerPhase(0);
        WindowCheck.assertWithinBound(limit, load.grants(0));
        assertThat(perPhase[0]).as("the first phase takes the whole burst").isEqualTo(burst);

        // Each phase has more attempts than tokens, so it must take exactly what a lone caller would take at that
        // instant: no lost update (over-admission) and no spurious denial (under-admission).
        ManualTicker replayTicker = new ManualTicker(load.startMicros(0));
        Bucket4jBackend replayBackend = Bucket4jBackend.create(replayTicker, 10);
        try {
            SluiceLimiter replay = SluiceLimiter.builder(replayBackend).policy(policy).build();
            long[] expected = new long[phases];
            for (int p = 0; p < phases; p++) {
                replayTicker.set(load.startMicros(p));
                expected[p] = grantsNow(replay, key, Cost.request(), threads * attempts);
            }
            assertThat(perPhase).isEqualTo(expected);
        } finally {
            replayBackend.close();
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    @DisplayName("Concurrency over two dimensions: give-backs after token refusals never admit more than either limit")
    void concurrentCallersOnTwoDimensionsStayWithinBothLimits() throws Exception {
        Limit requests = Limit.of("requests", 200, Duration.ofSeconds(2), Algorithm.TOKEN_BUCKET);
        Limit tokens = Limit.of("tokens", 10_000, Duration.ofSeconds(2), Algorithm.TOKEN_BUCKET);
        Policy policy = Policy.of(requests, tokens);
        SluiceLimiter[] instances = {limiter(policy), limiter(policy)};
        String key = "shared";
        int threads = 8;
        int phases = 60;
        int attempts = 100;
        Random r = new Random(7);
        int requestKey = 0; // the load's two "keys" count the one key's two dimensions
        int tokenKey = 1;
        PhasedLoad.Worker worker = (thread, phase, own, recorder) -> {
            for (int i = 0; i < attempts; i++) {
                // Mostly cheap calls, sometimes expensive ones that the tokens limit refuses.
                long n = own.nextInt(4) == 0 ? 100 + own.nextInt(400) : 1 + own.nextInt(40);
                if (instances[thread % 2].tryAcquire(key, Cost.request().and("tokens", n)).granted()) {
                    recorder.granted(requestKey, 1);
                    recorder.granted(tokenKey, n);
                }
            }
        };
        PhasedLoad.Result load = PhasedLoad.run(ticker, threads, phases, 2, worker,
                phase -> r.nextInt(5) == 0 ? 0 : r.nextInt(700_000), null);

        List<long[]> requestGrants = load.grants(requestKey);
        List<long[]> tokenGrants = load.grants(tokenKey);
        WindowCheck.assertWithinBound(requests, requestGrants);
        WindowCheck.assertWithinBound(tokens, tokenGrants);
        assertThat(requestGrants).as("the limits admitted something").isNotEmpty();
        // The first phase's 800 calls ask for far more than 10,000 tokens: it admits at most the two bursts.
        assertThat(requestGrants.get(0)[0]).isEqualTo(load.startMicros(0));
        assertThat(requestGrants.get(0)[1]).isLessThanOrEqualTo(200);
        assertThat(tokenGrants.get(0)[1]).isLessThanOrEqualTo(10_000).isGreaterThan(5_000);
    }

    // ---------------------------------------------------------------- waits exactness

    @Test
    @DisplayName("Retrying after retryAfter succeeds, also at rates whose token interval is not a whole nanosecond")
    void retryAfterIsLongEnoughAtOddRates() {
        SluiceLimiter l = limiter(Policy.of(Limit.perMinute("tokens", 999_999)));
        assertThat(l.tryAcquire(KEY, Cost.tokens(999_999)).granted()).isTrue();

        Decision denied = l.tryAcquire(KEY, Cost.tokens(1));
        assertThat(denied.reason()).isEqualTo(Reason.RATE_LIMITED);
        ticker.advanceMicros(denied.retryAfterMicros());
        Decision retry = l.tryAcquire(KEY, Cost.tokens(1));
        assertThat(retry.reason())
                .as("retry after the predicted %d µs (%s)", denied.retryAfterMicros(), retry)
                .isEqualTo(Reason.GRANTED);
    }
}

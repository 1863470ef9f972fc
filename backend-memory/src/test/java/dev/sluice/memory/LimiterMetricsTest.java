package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.core.LimiterMetrics;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.core.SluiceMetricNames;
import dev.sluice.testkit.ManualScheduler;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.ref.Reference;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link LimiterMetrics} as a {@link SluiceLimiter} on a {@link MemoryBackend} records it, all on manual time. */
class LimiterMetricsTest {

    private static final String NAME = "openai";

    private ManualTicker ticker;
    private ManualScheduler scheduler;
    private MemoryBackend backend;
    private SimpleMeterRegistry registry;

    @BeforeEach
    void setUp() {
        ticker = new ManualTicker();
        scheduler = new ManualScheduler(ticker);
        // sweeps run inline and only when asked (the interval never elapses unless a test advances time)
        backend = MemoryBackend.builder().ticker(ticker).sweeper(Runnable::run).build();
        registry = new SimpleMeterRegistry();
    }

    private SluiceLimiter limiter(Policy policy) {
        return SluiceLimiter.builder(backend).name(NAME).policy(policy).scheduler(scheduler)
                .meterRegistry(registry).build();
    }

    private double acquisitions(String result) {
        return acquisitions(NAME, result);
    }

    private double acquisitions(String limiter, String result) {
        return registry.get(SluiceMetricNames.ACQUISITIONS)
                .tags(SluiceMetricNames.TAG_LIMITER, limiter, SluiceMetricNames.TAG_RESULT, result)
                .counter().count();
    }

    private double units(String dimension, String result) {
        Counter c = registry.find(SluiceMetricNames.UNITS)
                .tags(SluiceMetricNames.TAG_LIMITER, NAME, SluiceMetricNames.TAG_DIMENSION, dimension,
                        SluiceMetricNames.TAG_RESULT, result)
                .counter();
        return c == null ? 0 : c.count();
    }

    private Timer waitTimer() {
        return registry.get(SluiceMetricNames.WAIT).tags(SluiceMetricNames.TAG_LIMITER, NAME).timer();
    }

    private double keysGauge() {
        return registry.get(SluiceMetricNames.KEYS).tags(SluiceMetricNames.TAG_LIMITER, NAME).gauge().value();
    }

    @Test
    void acquisitionCounterIsRegisteredAtZeroForEveryReason() {
        limiter(Policy.of(Limit.perMinute("requests", 1)));
        for (Decision.Reason r : Decision.Reason.values()) {
            assertThat(acquisitions(r.name().toLowerCase(java.util.Locale.ROOT))).as(r.name()).isZero();
        }
    }

    @Test
    void countsGrantedAndRateLimitedExactly() {
        SluiceLimiter limiter = limiter(Policy.of(Limit.perMinute("requests", 3)));
        int granted = 0;
        for (int i = 0; i < 5; i++) {
            if (limiter.tryAcquire("k", Cost.request()).granted()) {
                granted++;
            }
        }
        assertThat(granted).isEqualTo(3);
        assertThat(acquisitions("granted")).isEqualTo(3);
        assertThat(acquisitions("rate_limited")).isEqualTo(2);
        assertThat(acquisitions("deadline_exceeded")).isZero();
        assertThat(acquisitions("shadow_denied")).isZero();
    }

    private double keysGauge(String limiter) {
        return registry.get(SluiceMetricNames.KEYS).tags(SluiceMetricNames.TAG_LIMITER, limiter).gauge().value();
    }

    /** A limiter named {@code name} on a backend of its own, {@code keys} keys touched; the backend, weakly. */
    private WeakReference<MemoryBackend> limiterWithKeys(String name, int keys) {
        MemoryBackend own = MemoryBackend.builder().ticker(ticker).sweeper(Runnable::run).build();
        SluiceLimiter l = SluiceLimiter.builder(own).name(name).policy(Policy.of(Limit.perMinute("requests", 3)))
                .scheduler(scheduler).meterRegistry(registry).build();
        for (int i = 0; i < keys; i++) {
            l.tryAcquire("k" + i, Cost.request());
        }
        assertThat(keysGauge(name)).isEqualTo(keys);
        Reference.reachabilityFence(l); // the gauge reads it only while the limiter lives
        return new WeakReference<>(own);
    }

    @Test
    void aLimiterRebuiltUnderItsNameReportsItsOwnKeys_andTheGaugeKeepsNoBackendAlive() throws InterruptedException {
        WeakReference<MemoryBackend> first = limiterWithKeys("rebuilt", 3);
        for (int i = 0; i < 100 && first.get() != null; i++) {
            System.gc();
            Thread.sleep(10);
        }
        assertThat(first.get()).as("the first limiter's backend, once the limiter is gone").isNull();
        limiterWithKeys("rebuilt", 1); // and the gauge now reads the second limiter's backend
    }

    @Test
    void metricsBoundTwiceOrGivenAsTheObserverToo_countEachCallOnce() {
        LimiterMetrics own = new LimiterMetrics(NAME, backend::liveKeys);
        own.bindTo(registry);
        own.bindTo(registry);
        SluiceLimiter limiter = SluiceLimiter.builder(backend).name(NAME).policy(Policy.of(Limit.perMinute("requests",
                3))).scheduler(scheduler).observer(own).meterRegistry(registry).build();
        limiter.tryAcquire("k", Cost.request());
        assertThat(acquisitions("granted")).isEqualTo(1);
        assertThat(units("requests", "granted")).isEqualTo(1);
    }

    @Test
    void countsDeadlineExceeded() throws InterruptedException {
        SluiceLimiter limiter = limiter(Policy.of(Limit.perMinute("requests", 2)));
        limiter.tryAcquire("k", Cost.request());
        limiter.tryAcquire("k", Cost.request());

        // the next unit comes in 30 s; one second is not enough
        Decision d = limiter.acquire("k", Cost.request(), Duration.ofSeconds(1));
        assertThat(d.reason()).isEqualTo(Decision.Reason.DEADLINE_EXCEEDED);
        assertThat(scheduler.sleeps()).isEmpty();

        assertThat(acquisitions("granted")).isEqualTo(2);
        assertThat(acquisitions("deadline_exceeded")).isEqualTo(1);
        assertThat(acquisitions("rate_limited")).as("the final decision is counted, once").isZero();
    }

    @Test
    void countsShadowDenied() {
        SluiceLimiter limiter = limiter(Policy.of(Limit.perMinute("requests", 2)).withShadow(true));
        for (int i = 0; i < 5; i++) {
            assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();
        }
        assertThat(acquisitions("granted")).isEqualTo(2);
        assertThat(acquisitions("shadow_denied")).isEqualTo(3);
        assertThat(acquisitions("rate_limited")).isZero();
        // shadow mode lets the call through but charges nothing: the units count as (would-be) denied
        assertThat(units("requests", "granted")).isEqualTo(2);
        assertThat(units("requests", "denied")).isEqualTo(3);
    }

    @Test
    void countsKeyLimitReached() {
        MemoryBackend tiny = MemoryBackend.builder().ticker(ticker).maxKeys(1).sweeper(Runnable::run).build();
        SluiceLimiter limiter = SluiceLimiter.builder(tiny).name(NAME).policy(Policy.of(Limit.perMinute("r", 5)))
                .scheduler(scheduler).meterRegistry(registry).build();
        limiter.tryAcquire("a", Cost.of("r", 1));
        assertThat(limiter.tryAcquire("b", Cost.of("r", 2)).reason()).isEqualTo(Decision.Reason.KEY_LIMIT_REACHED);
        assertThat(acquisitions("key_limit_reached")).isEqualTo(1);
        assertThat(acquisitions("granted")).isEqualTo(1);
        assertThat(units("r", "granted")).isEqualTo(1);
        assertThat(units("r", "denied")).isEqualTo(2);
    }

    @Test
    void unitsAreSummedPerDimensionAndOutcome() {
        SluiceLimiter limiter = limiter(Policy.of(Limit.perMinute("requests", 10), Limit.perMinute("tokens", 1000)));
        Cost cost = Cost.request().and("tokens", 400);

        assertThat(limiter.tryAcquire("k", cost).granted()).isTrue();
        assertThat(limiter.tryAcquire("k", cost).granted()).isTrue();
        assertThat(limiter.tryAcquire("k", cost).granted()).as("1200 tokens > 1000").isFalse();
        assertThat(limiter.tryAcquire("k", Cost.tokens(150)).granted()).isTrue();

        assertThat(units("requests", "granted")).isEqualTo(2);
        assertThat(units("tokens", "granted")).isEqualTo(950);
        assertThat(units("requests", "denied")).isEqualTo(1);
        assertThat(units("tokens", "denied")).isEqualTo(400);

        limiter.refund("k", Cost.tokens(300));
        limiter.refund("k", Cost.tokens(20).and("requests", 1));
        assertThat(units("tokens", "refunded")).isEqualTo(320);
        assertThat(units("requests", "refunded")).isEqualTo(1);
        assertThat(units("tokens", "granted")).as("refunds leave grants alone").isEqualTo(950);

        assertThat(acquisitions("refunded")).as("refunds are not acquisitions").isZero();
        assertThat(acquisitions("granted")).isEqualTo(3);
        assertThat(acquisitions("rate_limited")).isEqualTo(1);
    }

    @Test
    void unitsMeterOfADimensionAppearsOnlyOnceUsed() {
        SluiceLimiter limiter = limiter(Policy.of(Limit.perMinute("requests", 10), Limit.perMinute("tokens", 1000)));
        limiter.tryAcquire("k", Cost.tokens(5));
        assertThat(units("tokens", "granted")).isEqualTo(5);
        assertThat(registry.find(SluiceMetricNames.UNITS).tag(SluiceMetricNames.TAG_DIMENSION, "requests").meters())
                .isEmpty();
        // a dimension once used has its three outcome counters, the unused ones at zero
        assertThat(registry.find(SluiceMetricNames.UNITS).tag(SluiceMetricNames.TAG_DIMENSION, "tokens").meters())
                .hasSize(3);
        assertThat(registry.find(SluiceMetricNames.UNITS).tags(SluiceMetricNames.TAG_DIMENSION, "tokens",
                SluiceMetricNames.TAG_RESULT, "denied").counter()).isNotNull();
        assertThat(units("tokens", "denied")).isZero();
        assertThat(units("tokens", "refunded")).isZero();
    }

    @Test
    void waitRecordsTheTimeABlockingAcquireWaited() throws InterruptedException {
        SluiceLimiter limiter = limiter(Policy.of(Limit.perMinute("requests", 2)));
        limiter.tryAcquire("k", Cost.request());
        limiter.tryAcquire("k", Cost.request());
        assertThat(waitTimer().count()).as("immediate grants wait nothing").isZero();

        long before = ticker.nowMicros();
        Decision d = limiter.acquire("k", Cost.request(), Duration.ofMinutes(1));

        assertThat(d.reason()).isEqualTo(Decision.Reason.GRANTED);
        assertThat(scheduler.sleeps()).containsExactly(30_000_000L);
        assertThat(ticker.nowMicros() - before).isEqualTo(30_000_000L);
        assertThat(waitTimer().count()).isEqualTo(1);
        assertThat(waitTimer().totalTime(TimeUnit.MICROSECONDS)).isEqualTo(30_000_000.0);
        assertThat(waitTimer().max(TimeUnit.SECONDS)).isEqualTo(30.0);
        assertThat(acquisitions("granted")).isEqualTo(3);
    }

    @Test
    void waitRecordsTheTimeAnAsyncAcquireWaited() {
        SluiceLimiter limiter = limiter(Policy.of(Limit.perMinute("requests", 4)));
        for (int i = 0; i < 4; i++) {
            limiter.tryAcquire("k", Cost.request());
        }
        CompletableFuture<Decision> f = limiter.acquireAsync("k", Cost.request(), Duration.ofMinutes(1));
        assertThat(f).isNotDone();
        assertThat(waitTimer().count()).isZero();

        scheduler.advance(Duration.ofSeconds(15));

        assertThat(f).isCompleted();
        assertThat(f.join().reason()).isEqualTo(Decision.Reason.GRANTED);
        assertThat(waitTimer().count()).isEqualTo(1);
        assertThat(waitTimer().totalTime(TimeUnit.MICROSECONDS)).isEqualTo(15_000_000.0);
        assertThat(acquisitions("granted")).isEqualTo(5);
    }

    @Test
    void keysGaugeFollowsTheBackendsLiveKeys() {
        SluiceLimiter limiter = limiter(Policy.of(Limit.perMinute("requests", 5)));
        assertThat(keysGauge()).isZero();

        limiter.tryAcquire("a", Cost.request());
        limiter.tryAcquire("b", Cost.request());
        limiter.tryAcquire("c", Cost.request());
        assertThat(backend.liveKeys()).isEqualTo(3);
        assertThat(keysGauge()).isEqualTo(backend.liveKeys());

        // once the buckets are full again the keys are at rest and a sweep forgets them
        ticker.advance(Duration.ofMinutes(1));
        assertThat(backend.cleanUp()).isZero();
        assertThat(backend.liveKeys()).isZero();
        assertThat(keysGauge()).isEqualTo(backend.liveKeys());
    }

    @Test
    void noMeterIsTaggedWithTheKey() throws InterruptedException {
        String key = "secret-key-123";
        SluiceLimiter limiter = limiter(Policy.of(Limit.perMinute("requests", 2), Limit.perMinute("tokens", 100)));
        limiter.tryAcquire(key, Cost.request().and("tokens", 10));
        limiter.tryAcquire(key, Cost.request());
        limiter.tryAcquire(key, Cost.request()); // rate limited
        limiter.acquire(key, Cost.request(), Duration.ofMillis(1)); // deadline exceeded
        limiter.acquire(key, Cost.request(), Duration.ofMinutes(1)); // waits
        limiter.acquireAsync(key, Cost.request(), Duration.ofMinutes(1));
        scheduler.advance(Duration.ofMinutes(1));
        limiter.refund(key, Cost.tokens(5));

        assertThat(registry.getMeters()).isNotEmpty();
        for (Meter m : registry.getMeters()) {
            assertThat(m.getId().getName()).doesNotContain("secret");
            for (Tag t : m.getId().getTags()) {
                assertThat(t.getValue()).as(m.getId().toString()).doesNotContain(key).doesNotContain("secret");
                assertThat(t.getKey()).doesNotContain("secret");
            }
        }
        // and the meters we expect are there, tagged by limiter name only
        assertThat(registry.getMeters())
                .allSatisfy(m -> assertThat(m.getId().getTag(SluiceMetricNames.TAG_LIMITER)).isEqualTo(NAME));
        assertThat(acquisitions("deadline_exceeded")).isEqualTo(1);
    }

    @Test
    void limitersSharingARegistryAreToldApartByName() {
        SluiceLimiter a = limiter(Policy.of(Limit.perMinute("requests", 1)));
        SluiceLimiter b = SluiceLimiter.builder(MemoryBackend.builder().ticker(ticker).build()).name("anthropic")
                .policy(Policy.of(Limit.perMinute("requests", 1))).meterRegistry(registry).build();
        a.tryAcquire("k", Cost.request());
        b.tryAcquire("k", Cost.request());
        b.tryAcquire("k", Cost.request());
        assertThat(acquisitions(NAME, "granted")).isEqualTo(1);
        assertThat(acquisitions(NAME, "rate_limited")).isZero();
        assertThat(acquisitions("anthropic", "granted")).isEqualTo(1);
        assertThat(acquisitions("anthropic", "rate_limited")).isEqualTo(1);
    }

    @Test
    void directObserverRecordsNothingBeforeBindTo() {
        LimiterMetrics metrics = new LimiterMetrics("direct", backend::liveKeys);
        SluiceLimiter limiter = SluiceLimiter.builder(backend).name("direct")
                .policy(Policy.of(Limit.perMinute("requests", 2))).scheduler(scheduler).observer(metrics).build();

        limiter.tryAcquire("k", Cost.request());
        limiter.tryAcquire("k", Cost.request());
        limiter.tryAcquire("k", Cost.request());
        limiter.refund("k", Cost.request());
        assertThat(registry.getMeters()).isEmpty();

        metrics.bindTo(registry);
        assertThat(acquisitions("direct", "granted")).as("earlier decisions are not replayed").isZero();
        assertThat(acquisitions("direct", "rate_limited")).isZero();
        assertThat(registry.find(SluiceMetricNames.UNITS).meters()).isEmpty();
        assertThat(registry.get(SluiceMetricNames.WAIT).timer().count()).isZero();
        assertThat(registry.get(SluiceMetricNames.KEYS).gauge().value()).isEqualTo(backend.liveKeys()).isEqualTo(1);

        limiter.tryAcquire("k", Cost.request());
        limiter.tryAcquire("k", Cost.request());
        assertThat(acquisitions("direct", "granted")).isEqualTo(1);
        assertThat(acquisitions("direct", "rate_limited")).isEqualTo(1);
        assertThat(registry.get(SluiceMetricNames.UNITS).tags(SluiceMetricNames.TAG_DIMENSION, "requests",
                SluiceMetricNames.TAG_RESULT, "granted").counter().count()).isEqualTo(1);
    }

    @Test
    void directObserverCountsTheDecisionsItIsTold() {
        LimiterMetrics metrics = new LimiterMetrics("direct", () -> 42);
        metrics.bindTo(registry);
        Policy policy = Policy.of(Limit.perMinute("requests", 2));
        metrics.onDecision(policy, Cost.requests(2), Decision.granted(policy, new long[] {0}, -1), -1);
        metrics.onDecision(policy, Cost.request(),
                Decision.rateLimited(policy, 5_000, new long[] {0}, 0).asDeadlineExceeded(), 7_000);
        metrics.onRefund(policy, Cost.request());

        assertThat(acquisitions("direct", "granted")).isEqualTo(1);
        assertThat(acquisitions("direct", "deadline_exceeded")).isEqualTo(1);
        Timer wait = registry.get(SluiceMetricNames.WAIT).tags(SluiceMetricNames.TAG_LIMITER, "direct").timer();
        assertThat(wait.count()).isEqualTo(1);
        assertThat(wait.totalTime(TimeUnit.MICROSECONDS)).isEqualTo(7_000.0);
        assertThat(registry.get(SluiceMetricNames.KEYS).gauge().value()).isEqualTo(42);
        assertThat(registry.get(SluiceMetricNames.UNITS).tags(SluiceMetricNames.TAG_RESULT, "granted").counter()
                .count()).isEqualTo(2);
        assertThat(registry.get(SluiceMetricNames.UNITS).tags(SluiceMetricNames.TAG_RESULT, "denied").counter()
                .count()).isEqualTo(1);
        assertThat(registry.get(SluiceMetricNames.UNITS).tags(SluiceMetricNames.TAG_RESULT, "refunded").counter()
                .count()).isEqualTo(1);
    }

    /**
     * BUG (likely): {@link SluiceMetricNames#WAIT} is documented as "the time blocking and async acquires spent
     * waiting", but LimiterMetrics records a sample for every decision that is not GRANTED, including each rate-limited
     * {@code tryAcquire}, which never waits. Every non-blocking denial adds a 0 µs sample, inflating the count and
     * dragging the mean toward zero.
     */
    @Test
    void tryAcquireDenialsAreNotRecordedAsWaits() {
        SluiceLimiter limiter = limiter(Policy.of(Limit.perMinute("requests", 1)));
        limiter.tryAcquire("k", Cost.request());
        limiter.tryAcquire("k", Cost.request());
        limiter.tryAcquire("k", Cost.request());
        assertThat(acquisitions("rate_limited")).isEqualTo(2);
        assertThat(waitTimer().count()).isZero();
    }

    /**
     * BUG: LimiterMetrics is a {@link io.micrometer.core.instrument.binder.MeterBinder}, which may be bound to several
     * registries, but each {@code bindTo} replaces the single bound registry: after binding to a second registry the
     * first one's counters stay registered yet silently stop counting.
     */
    @Test
    void bindingToASecondRegistryKeepsRecordingInTheFirst() {
        SimpleMeterRegistry second = new SimpleMeterRegistry();
        LimiterMetrics metrics = new LimiterMetrics("direct", () -> 0);
        metrics.bindTo(registry);
        metrics.bindTo(second);
        Policy policy = Policy.of(Limit.perMinute("requests", 2));
        metrics.onDecision(policy, Cost.request(), Decision.granted(policy, new long[] {1}, -1), 0);

        assertThat(second.get(SluiceMetricNames.ACQUISITIONS).tags(SluiceMetricNames.TAG_RESULT, "granted").counter()
                .count()).isEqualTo(1);
        assertThat(acquisitions("direct", "granted")).isEqualTo(1);
    }
}

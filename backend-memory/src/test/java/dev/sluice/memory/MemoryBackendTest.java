package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.testkit.WindowCheck;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What the in-memory backend adds to the compatibility kit: bounded memory. */
class MemoryBackendTest {

    private final ManualTicker ticker = new ManualTicker(1_000_000_000L);

    @Test
    @DisplayName("1,000,000 keys touched once are forgotten once at rest, by the sweeps new keys trigger")
    void millionIdleKeysAreForgotten() {
        MemoryBackend backend = MemoryBackend.builder().ticker(ticker).sweepInterval(Duration.ofMinutes(1))
                .sweeper(Runnable::run).build();
        Policy policy = Policy.of(Limit.perMinute("requests", 10), Limit.perSecond("tokens", 1000));
        SluiceLimiter limiter = SluiceLimiter.builder(backend).policy(policy).build();
        Cost call = Cost.request().and("tokens", 10);
        for (int i = 0; i < 1_000_000; i++) {
            assertThat(limiter.tryAcquire("tenant-" + i, call).granted()).isTrue();
        }
        assertThat(backend.liveKeys()).as("nothing is at rest yet").isEqualTo(1_000_000);
        ticker.advance(Duration.ofSeconds(61));
        limiter.tryAcquire("one-more", call);
        assertThat(backend.liveKeys()).as("the sweep triggered by a new key forgot the idle ones").isEqualTo(1);
    }

    @Test
    @DisplayName("A key is forgotten exactly when its state is at rest, not a microsecond before")
    void forgetsOnlyAtRest() {
        MemoryBackend backend = MemoryBackend.builder().ticker(ticker).build();
        Limit limit = Limit.of("requests", 10, Duration.ofSeconds(1), Algorithm.TOKEN_BUCKET);
        SluiceLimiter limiter = SluiceLimiter.builder(backend).policy(Policy.of(limit)).build();
        limiter.tryAcquire("k", Cost.requests(3)); // full again after 300 ms
        ticker.advanceMicros(299_999);
        assertThat(backend.cleanUp()).isEqualTo(1);
        ticker.advanceMicros(1);
        assertThat(backend.cleanUp()).isZero();
        assertThat(limiter.tryAcquire("k", Cost.request()).remaining(limit)).isEqualTo(9);
    }

    @Test
    @DisplayName("Beyond maxKeys a new key is denied (KEY_LIMIT_REACHED) until keys come to rest; known keys go on")
    void maxKeys() {
        MemoryBackend backend = MemoryBackend.builder().ticker(ticker).maxKeys(100).sweeper(Runnable::run).build();
        Limit limit = Limit.of("requests", 5, Duration.ofSeconds(10), Algorithm.FIXED_WINDOW);
        SluiceLimiter limiter = SluiceLimiter.builder(backend).policy(Policy.of(limit)).build();
        for (int i = 0; i < 100; i++) {
            assertThat(limiter.tryAcquire("k" + i, Cost.request()).granted()).isTrue();
        }
        Decision d = limiter.tryAcquire("new", Cost.request());
        assertThat(d.granted()).isFalse();
        assertThat(d.reason()).isEqualTo(Decision.Reason.KEY_LIMIT_REACHED);
        assertThat(d.retryAfterMicros()).as("until the fixed windows end").isEqualTo(10_000_000);
        assertThat(limiter.tryAcquire("k7", Cost.request()).granted()).isTrue();
        assertThat(backend.liveKeys()).isEqualTo(100);
        ticker.advance(Duration.ofSeconds(10));
        assertThat(limiter.tryAcquire("new", Cost.request()).granted()).isTrue();
        assertThat(backend.liveKeys()).isEqualTo(1);
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    @DisplayName("Sweeping while 6 threads acquire loses no state: admitted stays within every limit")
    void sweepingRacesWithAcquires() throws Exception {
        MemoryBackend backend = MemoryBackend.builder().ticker(ticker).build();
        Limit limit = Limit.of("requests", 3, Duration.ofMillis(50), Algorithm.SLIDING_LOG);
        SluiceLimiter limiter = SluiceLimiter.builder(backend).policy(Policy.of(limit)).build();
        int keys = 16;
        int threads = 6;
        int phases = 200;
        long[] times = new long[phases];
        AtomicLongArray granted = new AtomicLongArray(phases * keys);
        CyclicBarrier start = new CyclicBarrier(threads + 2);
        CyclicBarrier end = new CyclicBarrier(threads + 2);
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        try {
            List<Future<?>> all = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int seed = t;
                all.add(pool.submit(() -> {
                    java.util.Random r = new java.util.Random(seed);
                    for (int p = 0; p < phases; p++) {
                        start.await();
                        for (int i = 0; i < 30; i++) {
                            int k = r.nextInt(keys);
                            if (limiter.tryAcquire("k" + k, Cost.request()).granted()) {
                                granted.incrementAndGet(p * keys + k);
                            }
                        }
                        end.await();
                    }
                    return null;
                }));
            }
            all.add(pool.submit(() -> {
                for (int p = 0; p < phases; p++) {
                    start.await();
                    for (int i = 0; i < 20; i++) {
                        backend.cleanUp();
                    }
                    end.await();
                }
                return null;
            }));
            java.util.Random r = new java.util.Random(1);
            for (int p = 0; p < phases; p++) {
                times[p] = ticker.nowMicros();
                start.await(60, TimeUnit.SECONDS);
                end.await(60, TimeUnit.SECONDS);
                ticker.advanceMicros(r.nextInt(40_000));
            }
            for (Future<?> f : all) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        long total = 0;
        for (int k = 0; k < keys; k++) {
            List<long[]> grants = new ArrayList<>();
            for (int p = 0; p < phases; p++) {
                long n = granted.get(p * keys + k);
                total += n;
                if (n > 0) {
                    grants.add(new long[] {times[p], n});
                }
            }
            WindowCheck.assertWithinBound(limit, grants);
        }
        assertThat(total).isPositive();
    }
}

package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.testkit.PhasedLoad;
import dev.sluice.testkit.WindowCheck;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.TimeUnit;
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
        PhasedLoad.Worker worker = (thread, phase, random, recorder) -> {
            for (int i = 0; i < 30; i++) {
                int k = random.nextInt(keys);
                if (limiter.tryAcquire("k" + k, Cost.request()).granted()) {
                    recorder.granted(k, 1);
                }
            }
        };
        Runnable sweeper = () -> {
            for (int i = 0; i < 20; i++) {
                backend.cleanUp();
            }
        };
        Random r = new Random(1);
        PhasedLoad.Result load = PhasedLoad.run(ticker, threads, phases, keys, worker,
                phase -> r.nextInt(40_000), sweeper);
        for (int k = 0; k < keys; k++) {
            WindowCheck.assertWithinBound(limit, load.grants(k));
        }
        assertThat(load.total()).isPositive();
    }
}

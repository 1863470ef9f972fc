package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.api.Ticker;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.testkit.PhasedLoad;
import dev.sluice.testkit.WindowCheck;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

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
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    @DisplayName("An idle backend forgets its keys at rest by its timer, with no further call")
    void idleBackendIsSweptByItsTimer() throws InterruptedException {
        MemoryBackend backend = MemoryBackend.builder().ticker(ticker).sweepInterval(Duration.ofMillis(20))
                .sweeper(Runnable::run).build();
        try {
            SluiceLimiter limiter = SluiceLimiter.builder(backend).policy(Policy.of(Limit.perMinute("requests", 10)))
                    .build();
            for (int i = 0; i < 10_000; i++) {
                assertThat(limiter.tryAcquire("tenant-" + i, Cost.request()).granted()).isTrue();
            }
            assertThat(backend.liveKeys()).as("nothing is at rest yet").isEqualTo(10_000);
            ticker.advance(Duration.ofSeconds(7)); // a token back each 6 s: every bucket full again
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (backend.liveKeys() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertThat(backend.liveKeys()).as("the timer's sweep forgot every key at rest").isZero();
        } finally {
            backend.close();
        }
    }

    @Test
    @DisplayName("At maxKeys, a new key is refused without a sweep until a key can have come to rest, then admitted")
    void fullBackendSweepsOnlyWhenAKeyCanHaveComeToRest() {
        MemoryBackend backend = MemoryBackend.builder().ticker(ticker).maxKeys(100).sweepInterval(Duration.ofHours(1))
                .sweeper(Runnable::run).build();
        Limit limit = Limit.of("requests", 1, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET);
        SluiceLimiter limiter = SluiceLimiter.builder(backend).policy(Policy.of(limit)).build();
        for (int i = 0; i < 100; i++) {
            assertThat(limiter.tryAcquire("k" + i, Cost.request()).granted()).isTrue();
        }
        long sweeps = backend.sweeps();
        ticker.advance(Duration.ofSeconds(30));
        for (int i = 0; i < 1_000; i++) {
            Decision d = limiter.tryAcquire("new-" + i, Cost.request());
            assertThat(d.reason()).isEqualTo(Decision.Reason.KEY_LIMIT_REACHED);
            assertThat(d.retryAfterMicros()).as("until the first bucket is full again").isEqualTo(30_000_000);
        }
        assertThat(backend.sweeps()).as("no key could have come to rest: no sweep").isEqualTo(sweeps);
        ticker.advance(Duration.ofSeconds(30));
        assertThat(limiter.tryAcquire("new", Cost.request()).granted()).isTrue();
        assertThat(backend.sweeps()).as("one sweep made room").isEqualTo(sweeps + 1);
        assertThat(backend.liveKeys()).isEqualTo(1);
    }

    @Test
    @DisplayName("A call that read the clock before a sweep forgot its key decides at the sweep's time or later")
    void callWithAnOlderClockReadThanTheSweep() {
        long t0 = ticker.nowMicros();
        AtomicLong staleOnce = new AtomicLong(-1);
        // The backend's next read returns staleOnce once: a thread that read the clock, then stalled while a sweep ran.
        Ticker clock = () -> {
            long stale = staleOnce.getAndSet(-1);
            return stale >= 0 ? stale : ticker.nowMicros();
        };
        MemoryBackend backend = MemoryBackend.builder().ticker(clock).sweeper(Runnable::run).build();
        Limit limit = Limit.of("requests", 1, Duration.ofSeconds(10), Algorithm.FIXED_WINDOW);
        SluiceLimiter limiter = SluiceLimiter.builder(backend).policy(Policy.of(limit)).build();
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();
        ticker.advance(Duration.ofSeconds(10)); // the next window: the key is at rest
        assertThat(backend.cleanUp()).isZero();

        staleOnce.set(t0);
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).as("granted, in the new window").isTrue();
        assertThat(limiter.tryAcquire("k", Cost.request()).granted())
                .as("the new window holds 1: charging the stale call to the old one would let a second in").isFalse();
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Algorithm.class, names = {"FIXED_WINDOW", "GCRA", "TOKEN_BUCKET"})
    @DisplayName("A sweep that forgets a key between an acquire's look-up of it and its clock read (the acquire reads"
            + " the clock second) changes nothing: the key starts afresh, and its limit holds")
    void sweepBetweenLookUpAndClockRead(Algorithm algorithm) {
        AtomicReference<MemoryBackend> backend = new AtomicReference<>();
        AtomicBoolean sweepAtNextRead = new AtomicBoolean();
        AtomicLong left = new AtomicLong(-1);
        Ticker clock = () -> {
            if (sweepAtNextRead.getAndSet(false)) {
                left.set(backend.get().cleanUp()); // its own clock reads do not sweep again
            }
            return ticker.nowMicros();
        };
        backend.set(MemoryBackend.builder().ticker(clock).sweeper(Runnable::run).sweepInterval(Duration.ofHours(1))
                .build());
        Limit limit = Limit.of("requests", 1, Duration.ofSeconds(10), algorithm);
        SluiceLimiter limiter = SluiceLimiter.builder(backend.get()).policy(Policy.of(limit)).build();
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isFalse();
        ticker.advance(Duration.ofSeconds(20)); // at rest: the next sweep forgets the key
        assertThat(backend.get().liveKeys()).isEqualTo(1);

        sweepAtNextRead.set(true);
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).as("granted, the key at rest").isTrue();
        assertThat(left.get()).as("the sweep ran inside that acquire and forgot the key").isZero();
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).as("its limit of 1 holds").isFalse();
        assertThat(backend.get().liveKeys()).isEqualTo(1);
    }

    @Test
    @DisplayName("At maxKeys, a key refunded to rest since the last sweep makes room for a new key")
    void refundToRestMakesRoom() {
        MemoryBackend backend = MemoryBackend.builder().ticker(ticker).maxKeys(10).sweepInterval(Duration.ofHours(1))
                .sweeper(Runnable::run).build();
        for (Limit limit : new Limit[] {Limit.perMinute("requests", 1),
            Limit.of("requests", 1, Duration.ofMinutes(1), Algorithm.GCRA)}) {
            backend.close();
            SluiceLimiter limiter = SluiceLimiter.builder(backend).policy(Policy.of(limit)).build();
            for (int i = 0; i < 10; i++) {
                assertThat(limiter.tryAcquire("k" + i, Cost.request()).granted()).isTrue();
            }
            assertThat(limiter.tryAcquire("new", Cost.request()).reason())
                    .isEqualTo(Decision.Reason.KEY_LIMIT_REACHED);
            limiter.refund("k3", Cost.request());
            assertThat(limiter.tryAcquire("new", Cost.request()).granted()).as(limit.toString()).isTrue();
            assertThat(backend.liveKeys()).isEqualTo(10);
        }
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

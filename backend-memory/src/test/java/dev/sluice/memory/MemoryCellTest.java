package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.core.engine.GcraCell;
import dev.sluice.testkit.Differential;
import dev.sluice.testkit.ReferenceBackend;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What the compatibility kit does not reach of the {@link GcraCell} path of policies of one GCRA limit: cells that
 * outlive their span, constant retirement under racing callers, and rest.
 */
class MemoryCellTest {

    private final ManualTicker ticker = new ManualTicker(1_000_000_000L);

    @Test
    @DisplayName("The cells of one limit share one shape of its numbers; a cell of another limit has its own")
    void cellsOfOneLimitShareAShape() {
        MemoryBackend backend = MemoryBackend.builder().ticker(ticker).build();
        Policy tenRps = Policy.of(Limit.of("requests", 10, Duration.ofSeconds(1), Algorithm.GCRA));
        Policy twentyRps = Policy.of(Limit.of("requests", 20, Duration.ofSeconds(1), Algorithm.GCRA));
        for (int i = 0; i < 100; i++) {
            assertThat(backend.acquire("a" + i, tenRps, Cost.request()).granted()).isTrue();
        }
        assertThat(backend.acquire("b", twentyRps, Cost.request()).granted()).isTrue();
        MemoryBackend.CellShape shape = cell(backend, "a0").shape;
        assertThat(shape.limit).isSameAs(tenRps.limit(0));
        assertThat(shape.tolerance).as("a burst of 1: one period, 1 s, on the cell's scale of 1/10 µs")
                .isEqualTo(1_000_000L);
        for (int i = 1; i < 100; i++) {
            assertThat(cell(backend, "a" + i).shape).as("a%d", i).isSameAs(shape);
        }
        MemoryBackend.CellShape other = cell(backend, "b").shape;
        assertThat(other.limit).isSameAs(twentyRps.limit(0));
        assertThat(other.capacity).isEqualTo(20L);
    }

    private static MemoryBackend.CellEntry cell(MemoryBackend backend, String key) {
        assertThat(backend.slot(key)).as(key).isInstanceOf(MemoryBackend.CellEntry.class);
        return (MemoryBackend.CellEntry) backend.slot(key);
    }

    @Test
    @DisplayName("A cell whose span runs out (87 s at 3·10^10/s), in debt or not, is rebased with decisions identical "
            + "to the reference")
    void rebasesBeyondItsSpan() {
        // A burst of 66 s at this rate: keys are often in debt when their span runs out.
        Limit limit = Limit.of("tokens", 30_000_000_000L, Duration.ofSeconds(1), Algorithm.GCRA)
                .withBurst(2_000_000_000_000L);
        assertThat(GcraCell.span(limit)).as("a span between one and two minutes")
                .isBetween(60_000_000L, 120_000_000L);
        Policy policy = Policy.of(limit);
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        MemoryBackend backend = MemoryBackend.builder().ticker(ticker).sweeper(Runnable::run).build();
        ReferenceBackend reference = new ReferenceBackend(ticker);
        for (int i = 0; i < 5_000; i++) {
            String key = "k" + rnd.nextInt(3);
            Cost cost = Cost.tokens(1 + (long) (rnd.nextDouble() * 200_000_000_000L));
            int dice = rnd.nextInt(100);
            String op;
            Decision expected;
            Decision actual;
            if (dice < 60) {
                op = "acquire " + key + " " + cost;
                expected = reference.acquire(key, policy, cost);
                actual = backend.acquire(key, policy, cost);
            } else if (dice < 75) {
                op = "refund " + key + " " + cost;
                expected = reference.refund(key, policy, cost);
                actual = backend.refund(key, policy, cost);
            } else if (dice < 95) {
                long micros = rnd.nextInt(5) > 0 ? rnd.nextInt(3_000_000) : (long) rnd.nextInt(60) * 1_000_000;
                ticker.advanceMicros(micros);
                continue;
            } else if (dice < 98) {
                backend.cleanUp();
                continue;
            } else {
                ticker.set(ticker.nowMicros() - rnd.nextInt(50_000));
                continue;
            }
            assertThat(Differential.describe(actual)).as("seed %d, op %d: %s at %d", seed, i, op, ticker.nowMicros())
                    .isEqualTo(Differential.describe(expected));
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    @DisplayName("8 threads alternating two equal policies, so the cell is retired and replaced on most calls, "
            + "admit exactly the burst, with sweeps racing")
    void retirementRacesLoseNothing() throws Exception {
        Limit limit = Limit.of("requests", 1_000, Duration.ofDays(30), Algorithm.GCRA).withBurst(1_000);
        Policy[] policies = {Policy.of(limit), Policy.of(limit)};
        MemoryBackend backend = MemoryBackend.builder().ticker(ticker).build();
        int threads = 8;
        int attempts = 600;
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        try {
            CountDownLatch start = new CountDownLatch(1);
            AtomicBoolean done = new AtomicBoolean();
            List<Future<Integer>> counts = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int offset = t;
                counts.add(pool.submit(() -> {
                    start.await();
                    int granted = 0;
                    for (int i = 0; i < attempts; i++) {
                        Policy p = policies[(i + offset) % 2];
                        if (backend.acquire("hot", p, Cost.request()).granted()) {
                            granted++;
                        }
                        if (i % 10 == 0 && backend.acquire("k" + (i + offset) % 7, p, Cost.request()).granted()) {
                            backend.refund("k" + (i + offset) % 7, p, Cost.request());
                        }
                    }
                    return granted;
                }));
            }
            Future<?> sweeps = pool.submit(() -> {
                start.await();
                while (!done.get()) {
                    backend.cleanUp();
                }
                return null;
            });
            start.countDown();
            int total = 0;
            for (Future<Integer> c : counts) {
                total += c.get(60, TimeUnit.SECONDS);
            }
            done.set(true);
            sweeps.get(60, TimeUnit.SECONDS);
            assertThat(total).as("the clock stands still: the burst and not one more").isEqualTo(1_000);
            Decision next = backend.acquire("hot", policies[0], Cost.request());
            assertThat(next.granted()).isFalse();
            assertThat(next.retryAfterMicros()).as("one emission interval: 30 days / 1,000")
                    .isEqualTo(Duration.ofDays(30).toNanos() / 1000 / 1_000);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    @DisplayName("A cell is forgotten exactly when its theoretical arrival time has passed, not a microsecond before")
    void forgetsOnlyAtRest() {
        MemoryBackend backend = MemoryBackend.builder().ticker(ticker).build();
        Limit limit = Limit.of("requests", 10, Duration.ofSeconds(1), Algorithm.GCRA).withBurst(5);
        Policy policy = Policy.of(limit);
        for (int i = 0; i < 3; i++) {
            assertThat(backend.acquire("k", policy, Cost.request()).granted()).isTrue();
        }
        ticker.advanceMicros(299_999); // three emission intervals of 100 ms
        assertThat(backend.cleanUp()).isEqualTo(1);
        assertThat(backend.acquire("k", policy, Cost.request()).remaining(limit)).as("4.99999 units free, less one")
                .isEqualTo(3);
        ticker.advanceMicros(100_001);
        assertThat(backend.cleanUp()).isZero();
        assertThat(backend.acquire("k", policy, Cost.request()).remaining(limit)).isEqualTo(4);
    }
}

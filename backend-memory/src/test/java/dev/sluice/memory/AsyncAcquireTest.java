package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.core.WaitScheduler;
import dev.sluice.testkit.ForwardingBackend;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** What an async acquire does when its scheduler fails it or one of its retries blocks. */
class AsyncAcquireTest {

    @Test
    @DisplayName("An async acquire whose scheduler refuses its wait fails with that error instead of never completing")
    void refusedScheduleFailsTheFuture() {
        ManualTicker ticker = new ManualTicker(1_000_000_000L);
        WaitScheduler refusing = new WaitScheduler() {
            @Override
            public long nowMicros() {
                return ticker.nowMicros();
            }

            @Override
            public void sleepMicros(long micros) {
                ticker.advanceMicros(micros);
            }

            @Override
            public Future<?> schedule(Runnable task, long micros) {
                throw new RejectedExecutionException("scheduler shut down");
            }
        };
        SluiceLimiter limiter = SluiceLimiter.builder(MemoryBackend.builder().ticker(ticker).build())
                .policy(Policy.of(Limit.perMinute("requests", 1))).scheduler(refusing).build();
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();

        CompletableFuture<Decision> waiting = limiter.acquireAsync("k", Cost.request(), Duration.ofMinutes(2));
        assertThat(waiting).isCompletedExceptionally();
        assertThat(waiting).failsWithin(Duration.ZERO).withThrowableOfType(ExecutionException.class)
                .withCauseInstanceOf(RejectedExecutionException.class);
        ticker.advance(Duration.ofMinutes(1));
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).as("the failed wait charged nothing").isTrue();
    }

    @Test
    @DisplayName("With the system scheduler, a retry blocked in its backend call does not hold up another key's retry")
    void blockedRetryDoesNotDelayOthers() throws Exception {
        CountDownLatch slowBlocked = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger slowCalls = new AtomicInteger();
        MemoryBackend memory = MemoryBackend.create();
        LimiterBackend stalling = new ForwardingBackend(memory) {
            @Override
            public Decision acquire(String key, Policy policy, Cost cost) {
                if (key.equals("slow") && slowCalls.incrementAndGet() == 3) { // the async acquire's retry
                    slowBlocked.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                return super.acquire(key, policy, cost);
            }
        };
        // A second: the async acquire's first look must come before the first grant's slot frees, however slow
        // the machine, or it is granted at once and never retries.
        Policy onePerSecond = Policy.of(Limit.of("requests", 1, Duration.ofSeconds(1), Algorithm.GCRA));
        SluiceLimiter limiter = SluiceLimiter.builder(stalling).policy(onePerSecond).build();
        try {
            assertThat(limiter.tryAcquire("slow", Cost.request()).granted()).isTrue();
            CompletableFuture<Decision> slow = limiter.acquireAsync("slow", Cost.request(), Duration.ofMinutes(1));
            assertThat(slowBlocked.await(30, TimeUnit.SECONDS)).as("the slow key's retry reached the backend").isTrue();

            assertThat(limiter.tryAcquire("fast", Cost.request()).granted()).isTrue();
            CompletableFuture<Decision> fast = limiter.acquireAsync("fast", Cost.request(), Duration.ofMinutes(1));
            assertThat(fast.get(30, TimeUnit.SECONDS).granted()).as("granted while the slow retry is blocked").isTrue();
            assertThat(slow).isNotDone();

            release.countDown();
            assertThat(slow.get(30, TimeUnit.SECONDS).granted()).isTrue();
        } finally {
            release.countDown();
            limiter.close();
            stalling.close();
        }
    }
}

package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.core.WaitScheduler;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** What an async acquire does when its scheduler fails it. */
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
}

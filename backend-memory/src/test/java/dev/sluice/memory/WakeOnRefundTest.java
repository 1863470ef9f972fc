package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.testkit.ForwardingBackend;
import dev.sluice.testkit.ManualScheduler;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Refunds wake waiters in real time, with the system scheduler. Every limit here refills so slowly (a unit per minute
 * or per 14 minutes) that a waiter granted within the test's bounds was woken by a refund, not by its predicted moment.
 */
class WakeOnRefundTest {

    @Test
    @DisplayName("A blocking acquire sleeping through a minute's wait is woken by a refund and granted at once")
    void refundWakesABlockingAcquire() throws Exception {
        SluiceLimiter limiter = SluiceLimiter.builder(MemoryBackend.create())
                .policy(Policy.of(Limit.of("requests", 1, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET))).build();
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();
        AtomicReference<Decision> got = new AtomicReference<>();
        Thread waiter = new Thread(() -> {
            try {
                got.set(limiter.acquire("k", Cost.request(), Duration.ofMinutes(2)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        startAndAwaitSleep(waiter);
        assertThat(limiter.waiting()).isEqualTo(1);

        limiter.refund("k", Cost.request());
        waiter.join(TimeUnit.SECONDS.toMillis(30)); // without the wake it would sleep for about a minute
        assertThat(waiter.isAlive()).as("still asleep 30 s after the refund").isFalse();
        assertThat(got.get().reason()).isEqualTo(Decision.Reason.GRANTED);
        assertThat(limiter.waiting()).isZero();
    }

    @Test
    @DisplayName("A blocking acquire interrupted while it waits throws InterruptedException, charges nothing and "
            + "leaves the queue")
    void interruptedWhileWaiting() throws Exception {
        SluiceLimiter limiter = SluiceLimiter.builder(MemoryBackend.create())
                .policy(Policy.of(Limit.of("requests", 1, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET))).build();
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread waiter = new Thread(() -> {
            try {
                limiter.acquire("k", Cost.request(), Duration.ofMinutes(2));
            } catch (Throwable e) {
                thrown.set(e);
            }
        });
        startAndAwaitSleep(waiter);
        waiter.interrupt();
        waiter.join(TimeUnit.SECONDS.toMillis(30));
        assertThat(waiter.isAlive()).isFalse();
        assertThat(thrown.get()).isInstanceOf(InterruptedException.class);
        assertThat(limiter.waiting()).isZero();
        limiter.refund("k", Cost.request());
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).as("the interrupted wait took nothing").isTrue();
    }

    @Test
    @DisplayName("A woken async waiter whose look fails with an Error fails its future, leaves the queue and passes "
            + "the wake on; the Error reaches the thread that ran the look")
    void errorInAWokenLook() {
        ManualTicker ticker = new ManualTicker(1_000_000_000L);
        ManualScheduler scheduler = new ManualScheduler(ticker);
        AtomicInteger looks = new AtomicInteger();
        MemoryBackend memory = MemoryBackend.builder().ticker(ticker).build();
        LimiterBackend failingOnce = new ForwardingBackend(memory) {
            @Override
            public Decision acquire(String key, Policy policy, Cost cost) {
                if (looks.incrementAndGet() == 4) { // the oldest waiter's look after the refund
                    throw new Broken();
                }
                return super.acquire(key, policy, cost);
            }
        };
        SluiceLimiter limiter = SluiceLimiter.builder(failingOnce).scheduler(scheduler)
                .policy(Policy.of(Limit.of("requests", 1, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET))).build();
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();
        CompletableFuture<Decision> broken = limiter.acquireAsync("k", Cost.request(), Duration.ofMinutes(2));
        CompletableFuture<Decision> next = limiter.acquireAsync("k", Cost.request(), Duration.ofMinutes(2));

        limiter.refund("k", Cost.request());
        assertThatThrownBy(() -> scheduler.advanceMicros(0)).isInstanceOf(Broken.class);
        assertThat(broken).isCompletedExceptionally();
        scheduler.advanceMicros(0); // the wake it passed on
        assertThat(next).isCompleted();
        assertThat(next.join().reason()).isEqualTo(Decision.Reason.GRANTED);
        assertThat(limiter.waiting()).isZero();
    }

    private static final class Broken extends Error {
    }

    @Test
    @DisplayName("Refunds from 4 threads to 40 async waiters: one waiter granted per unit given back, none lost")
    void concurrentRefundsServeWaitersExactly() throws Exception {
        // 100 a day: the next unit of refill is 14 minutes away
        SluiceLimiter limiter = SluiceLimiter.builder(MemoryBackend.create())
                .policy(Policy.of(Limit.of("requests", 100, Duration.ofDays(1), Algorithm.TOKEN_BUCKET))).build();
        for (int i = 0; i < 100; i++) {
            assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();
        }
        List<CompletableFuture<Decision>> waiters = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            waiters.add(limiter.acquireAsync("k", Cost.request(), Duration.ofHours(1)));
        }
        assertThat(waiters).noneMatch(CompletableFuture::isDone);

        int threads = 4;
        int refundsEach = 6;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        CountDownLatch start = new CountDownLatch(1);
        try {
            for (int t = 0; t < threads; t++) {
                pool.execute(() -> {
                    try {
                        start.await();
                        for (int i = 0; i < refundsEach; i++) {
                            limiter.refund("k", Cost.request());
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
            }
            start.countDown();
            pool.shutdown();
            assertThat(pool.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        } finally {
            pool.shutdownNow();
        }

        int given = threads * refundsEach;
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (granted(waiters) < given && System.nanoTime() < until) {
            Thread.sleep(10);
        }
        assertThat(granted(waiters)).as("waiters granted by %d refunds", given).isEqualTo(given);
        assertThat(waiters.stream().filter(CompletableFuture::isDone).count())
                .as("the others still wait").isEqualTo(given);
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).as("every unit given back was taken").isFalse();
        assertThat(limiter.waiting()).isEqualTo(40 - given);
        waiters.forEach(f -> f.cancel(true));
        assertThat(limiter.waiting()).isZero();
    }

    @Test
    @DisplayName("New acquires racing refunds, 100 rounds: every unit given back is taken by a waiter, none sits"
            + " unclaimed while one waits, and the queue empties once they leave")
    void acquiresRacingRefunds() throws Exception {
        for (int round = 0; round < 100; round++) {
            // 100 a day, all taken: the next unit of refill is 14 minutes away, so only refunds serve the waiters
            SluiceLimiter limiter = SluiceLimiter.builder(MemoryBackend.create())
                    .policy(Policy.of(Limit.of("requests", 100, Duration.ofDays(1), Algorithm.TOKEN_BUCKET))).build();
            for (int i = 0; i < 100; i++) {
                assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();
            }
            // 4 threads x 10 async acquires, every fifth cancelled at once (at least 32 stay), 2 blocking, 3 x 8
            // refunds
            List<CompletableFuture<Decision>> async = new java.util.concurrent.CopyOnWriteArrayList<>();
            AtomicInteger blockingGranted = new AtomicInteger();
            List<Thread> blocking = new ArrayList<>();
            CountDownLatch go = new CountDownLatch(1);
            ExecutorService pool = Executors.newFixedThreadPool(7);
            try {
                for (int t = 0; t < 4; t++) {
                    pool.execute(() -> {
                        awaitQuietly(go);
                        for (int i = 0; i < 10; i++) {
                            CompletableFuture<Decision> f = limiter.acquireAsync("k", Cost.request(),
                                    Duration.ofHours(1));
                            if (i % 5 != 0 || !f.cancel(true)) { // a cancel too late (granted at once) keeps it
                                async.add(f);
                            }
                        }
                    });
                }
                for (int t = 0; t < 2; t++) {
                    Thread b = new Thread(() -> {
                        awaitQuietly(go);
                        try {
                            if (limiter.acquire("k", Cost.request(), Duration.ofHours(1)).granted()) {
                                blockingGranted.incrementAndGet();
                            }
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    });
                    b.start();
                    blocking.add(b);
                }
                for (int t = 0; t < 3; t++) {
                    pool.execute(() -> {
                        awaitQuietly(go);
                        for (int i = 0; i < 8; i++) {
                            limiter.refund("k", Cost.request());
                            Thread.yield();
                        }
                    });
                }
                go.countDown();
                pool.shutdown();
                assertThat(pool.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
            } finally {
                pool.shutdownNow();
            }

            int r = round;
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while ((granted(async) + blockingGranted.get() < 24 || limiter.waiting() != pending(async, blocking))
                    && System.nanoTime() < until) {
                Thread.sleep(2);
            }
            assertThat(granted(async) + blockingGranted.get()).as("round %d: waiters granted by 24 refunds", r)
                    .isEqualTo(24);
            long pending = pending(async, blocking);
            assertThat(pending).as("round %d: calls still waiting", r).isPositive();
            assertThat(limiter.tryAcquire("k", Cost.request()).granted())
                    .as("round %d: a unit given back sits unclaimed while %d calls wait", r, pending).isFalse();
            assertThat(limiter.waiting()).as("round %d", r).isEqualTo(pending);
            async.forEach(f -> f.cancel(true));
            for (Thread b : blocking) {
                b.interrupt();
                b.join(TimeUnit.SECONDS.toMillis(10));
                assertThat(b.isAlive()).isFalse();
            }
            assertThat(limiter.waiting()).as("round %d: the queue is empty once all left", r).isZero();
        }
    }

    private static long pending(List<CompletableFuture<Decision>> async, List<Thread> blocking) {
        return async.stream().filter(f -> !f.isDone()).count() + blocking.stream().filter(Thread::isAlive).count();
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    @DisplayName("A refund that lands between an async waiter's first refusal and its joining the key's queue still"
            + " wakes it at once")
    void refundWhileTheWaiterLooks() {
        ManualTicker ticker = new ManualTicker(1_000_000_000L);
        ManualScheduler scheduler = new ManualScheduler(ticker);
        AtomicReference<SluiceLimiter> self = new AtomicReference<>();
        AtomicInteger calls = new AtomicInteger();
        MemoryBackend memory = MemoryBackend.builder().ticker(ticker).build();
        LimiterBackend refundingAfterTheSecondLook = new ForwardingBackend(memory) {
            @Override
            public Decision acquire(String key, Policy policy, Cost cost) {
                Decision d = super.acquire(key, policy, cost);
                if (calls.incrementAndGet() == 2) { // the async acquire's first look, refused
                    self.get().refund(key, Cost.request());
                }
                return d;
            }
        };
        SluiceLimiter limiter = SluiceLimiter.builder(refundingAfterTheSecondLook).scheduler(scheduler)
                .policy(Policy.of(Limit.of("requests", 1, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET))).build();
        self.set(limiter);
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();

        CompletableFuture<Decision> f = limiter.acquireAsync("k", Cost.request(), Duration.ofMinutes(2));
        assertThat(f).as("looked again at once, on the caller's thread").isCompleted();
        assertThat(f.join().reason()).isEqualTo(Decision.Reason.GRANTED);
        assertThat(scheduler.pending()).as("its retry at the predicted moment was cancelled").isZero();
    }

    @Test
    @DisplayName("A refund that lands after a blocking acquire's first refusal, before it joins the key's queue, still"
            + " wakes it: it looks again instead of sleeping its predicted wait")
    void refundBeforeABlockingWaiterJoins() throws Exception {
        AtomicReference<SluiceLimiter> self = new AtomicReference<>();
        AtomicInteger calls = new AtomicInteger(-100); // the 100 tryAcquires below, then the acquire's looks
        LimiterBackend refundingAfterTheSecondLook = new ForwardingBackend(MemoryBackend.create()) {
            @Override
            public Decision acquire(String key, Policy policy, Cost cost) {
                Decision d = super.acquire(key, policy, cost);
                if (calls.incrementAndGet() == 1) { // the blocking acquire's first look, refused
                    assertThat(d.granted()).isFalse();
                    self.get().refund(key, Cost.request());
                }
                return d;
            }
        };
        // 100 a day: the next unit of refill is 14 minutes away
        SluiceLimiter limiter = SluiceLimiter.builder(refundingAfterTheSecondLook)
                .policy(Policy.of(Limit.of("requests", 100, Duration.ofDays(1), Algorithm.TOKEN_BUCKET))).build();
        self.set(limiter);
        for (int i = 0; i < 100; i++) {
            assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();
        }
        AtomicReference<Decision> got = new AtomicReference<>();
        Thread waiter = new Thread(() -> {
            try {
                got.set(limiter.acquire("k", Cost.request(), Duration.ofHours(1)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        waiter.start();
        waiter.join(TimeUnit.SECONDS.toMillis(30));
        boolean asleep = waiter.isAlive();
        waiter.interrupt();
        assertThat(asleep).as("still asleep 30 s after the refund").isFalse();
        assertThat(got.get().reason()).isEqualTo(Decision.Reason.GRANTED);
        assertThat(calls.get()).as("one look refused, one granted").isEqualTo(2);
        assertThat(limiter.waiting()).isZero();
    }

    @Test
    @DisplayName("onRefund listeners hear each refund's key until closed; one that throws does not fail the refund or"
            + " silence the others")
    void refundListeners() throws Exception {
        SluiceLimiter limiter = SluiceLimiter.builder(MemoryBackend.create())
                .policy(Policy.of(Limit.of("requests", 1, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET))).build();
        List<String> heard = new java.util.concurrent.CopyOnWriteArrayList<>();
        AutoCloseable failing = limiter.onRefund(k -> {
            throw new IllegalStateException("listener bug");
        });
        AutoCloseable listening = limiter.onRefund(heard::add);
        assertThat(limiter.tryAcquire("a", Cost.request()).granted()).isTrue();
        limiter.refund("a", Cost.request());
        assertThat(limiter.tryAcquire("a", Cost.request()).granted()).as("the refund took effect").isTrue();
        limiter.refund("b", Cost.request());
        listening.close();
        failing.close();
        limiter.refund("c", Cost.request());
        assertThat(heard).containsExactly("a", "b");
    }

    /** Starts {@code waiter} and waits (up to 20 s) until it sleeps in its acquire's predicted wait. */
    private static void startAndAwaitSleep(Thread waiter) throws InterruptedException {
        waiter.start();
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (waiter.getState() != Thread.State.TIMED_WAITING && System.nanoTime() < until) {
            Thread.sleep(5);
        }
        assertThat(waiter.getState()).as("the acquire sleeps its predicted wait").isEqualTo(Thread.State.TIMED_WAITING);
    }

    private static long granted(List<CompletableFuture<Decision>> futures) {
        return futures.stream().filter(f -> f.isDone() && !f.isCancelled() && f.join().granted()).count();
    }
}

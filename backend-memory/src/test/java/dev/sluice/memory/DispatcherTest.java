package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.google.inject.Guice;
import com.google.inject.Injector;
import com.google.inject.Key;
import com.google.inject.TypeLiteral;
import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.api.RateLimiter;
import dev.sluice.api.Ticker;
import dev.sluice.api.queue.Job;
import dev.sluice.api.queue.JobQueue;
import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Lease;
import dev.sluice.api.queue.Priority;
import dev.sluice.core.LimiterModule;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.core.SluiceMetricNames;
import dev.sluice.core.queue.DeadlineUnreachableException;
import dev.sluice.core.queue.Dispatcher;
import dev.sluice.core.queue.DispatcherModule;
import dev.sluice.core.queue.JobHandler;
import dev.sluice.testkit.WindowCheck;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.ref.WeakReference;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The dispatcher on the in-memory queue and backend, in real time (the dispatcher sleeps for the limiter's waits):
 * limits held in every window, weighted fairness, priorities, deadlines, cancellation, failures, a killed worker and
 * a graceful close. Assertions are about what ran and in which order, never about how long it took.
 */
@Timeout(60)
class DispatcherTest {

    private static final Policy UNBOUNDED = Policy.of(Limit.perSecond("requests", 1_000_000));

    private final List<AutoCloseable> closeables = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        Collections.reverse(closeables);
        for (AutoCloseable c : closeables) {
            c.close();
        }
    }

    private <T extends AutoCloseable> T closing(T c) {
        closeables.add(c);
        return c;
    }

    private MemoryJobQueue queue(Duration lease, int maxDeliveries) {
        return MemoryJobQueue.builder().leaseDuration(lease).maxDeliveries(maxDeliveries).build();
    }

    private RateLimiter limiter(Policy policy) {
        return closing(SluiceLimiter.builder(MemoryBackend.create()).policy(policy).build());
    }

    private static JobRequest job(String text, String tenant, Priority priority) {
        return JobRequest.builder(text.getBytes(StandardCharsets.UTF_8)).tenant(tenant).priority(priority).build();
    }

    private static String text(Job job) {
        return new String(job.payload(), StandardCharsets.UTF_8);
    }

    /** Whether a thread of the dispatcher is alive, once its pool's threads have had up to 5 s to end. */
    private static boolean dispatcherThreadsAlive(String name) throws InterruptedException {
        for (int i = 0; i < 500; i++) { // a terminated pool's last threads may still be on their way out
            if (Thread.getAllStackTraces().keySet().stream()
                    .noneMatch(t -> t.isAlive() && t.getName().startsWith("sluice-dispatcher-" + name))) {
                return false;
            }
            Thread.sleep(10);
        }
        return true;
    }

    /** Waits up to 10 s for {@code t} to be in {@code state} (or to have ended); true if it got there. */
    private static boolean awaitState(Thread t, Thread.State state) throws InterruptedException {
        for (int i = 0; i < 1000; i++) {
            Thread.State now = t.getState();
            if (now == state || now == Thread.State.TERMINATED) {
                return now == state;
            }
            Thread.sleep(10);
        }
        return false;
    }

    @Test
    @DisplayName("while the queue is full, the jobs started never exceed the limit in any window")
    void neverExceedsTheLimit() throws Exception {
        Limit limit = Limit.of("requests", 20, Duration.ofMillis(200), Algorithm.SLIDING_LOG);
        // The backend's own reading of time at each decision, so the grants are checked on the limiter's clock.
        ThreadLocal<Long> lastRead = new ThreadLocal<>();
        Ticker system = Ticker.system();
        Ticker recording = () -> {
            long now = system.nowMicros();
            if (lastRead.get() == null) {
                lastRead.set(now);
            }
            return now;
        };
        RateLimiter backendTimed = closing(SluiceLimiter.builder(MemoryBackend.builder().ticker(recording).build())
                .policy(Policy.of(limit)).build());
        List<long[]> grants = Collections.synchronizedList(new ArrayList<>());
        RateLimiter recorder = new ForwardingLimiter(backendTimed) {
            @Override
            public Decision tryAcquire(String key, Cost cost) {
                lastRead.remove();
                Decision d = super.tryAcquire(key, cost);
                if (d.granted()) {
                    grants.add(new long[] {lastRead.get(), cost.units("requests")});
                }
                return d;
            }
        };
        MemoryJobQueue q = queue(Duration.ofSeconds(30), 3);
        int jobs = 150;
        for (int i = 0; i < jobs; i++) {
            q.enqueue(job("j" + i, "t" + (i % 3), Priority.NORMAL));
        }
        AtomicInteger ran = new AtomicInteger();
        Dispatcher<Integer> d = closing(Dispatcher.builder(q, recorder, j -> ran.incrementAndGet()).workers(4)
                .name("window").build());
        for (int i = 0; i < 1000 && ran.get() < jobs; i++) {
            Thread.sleep(10);
        }
        assertThat(ran.get()).isEqualTo(jobs);
        assertThat(grants).hasSize(jobs);
        WindowCheck.assertWithinBound(limit, grants);
        // A job leaves pending when its handler has returned and it is acknowledged, a moment after it ran.
        for (int i = 0; i < 500 && !d.pending().isEmpty(); i++) {
            Thread.sleep(10);
        }
        assertThat(d.pending()).isEmpty();
    }

    @Test
    @DisplayName("two backlogged tenants, one submitting 10x more, each get their weighted share (2:1) within 10%")
    void weightedFairShare() throws Exception {
        MemoryJobQueue q = queue(Duration.ofSeconds(30), 3);
        // The noisy tenant's 1,000 jobs are all ahead of the quiet one's 100 in arrival order.
        for (int i = 0; i < 1000; i++) {
            q.enqueue(job("noisy" + i, "noisy", Priority.NORMAL));
        }
        for (int i = 0; i < 100; i++) {
            q.enqueue(job("quiet" + i, "quiet", Priority.NORMAL));
        }
        List<String> started = Collections.synchronizedList(new ArrayList<>());
        // A binding limit of 500 jobs/s: throughput is what the limiter admits, shared by the dispatcher.
        RateLimiter l = limiter(Policy.of(Limit.of("requests", 50, Duration.ofMillis(100), Algorithm.GCRA)));
        Dispatcher<Void> d = closing(Dispatcher.builder(q, l, (JobHandler<Void>) j -> {
            started.add(j.tenant());
            return null;
        }).workers(1).weights(t -> t.equals("quiet") ? 2 : 1).name("fair").build());
        for (int i = 0; i < 1000 && started.size() < 120; i++) {
            Thread.sleep(10);
        }
        // Both tenants are backlogged over the first 120 starts (the quiet one would need 150 to run dry).
        List<String> window = new ArrayList<>(started).subList(0, 120);
        double quietShare = window.stream().filter("quiet"::equals).count() / 120.0;
        assertThat(quietShare).isCloseTo(2.0 / 3, within(0.1 * 2 / 3));
        assertThat(1 - quietShare).isCloseTo(1.0 / 3, within(0.1 * 1 / 3));
        d.close();
    }

    @Test
    @DisplayName("every visible job of a higher priority class starts before any of a lower one")
    void prioritiesFirst() throws Exception {
        MemoryJobQueue q = queue(Duration.ofSeconds(30), 3);
        for (int i = 0; i < 20; i++) {
            q.enqueue(job("low" + i, "t", Priority.LOW));
        }
        for (int i = 0; i < 20; i++) {
            q.enqueue(job("high" + i, "u" + (i % 2), Priority.HIGH));
        }
        List<Priority> order = Collections.synchronizedList(new ArrayList<>());
        Dispatcher<Void> d = closing(Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<Void>) j -> {
            order.add(j.priority());
            return null;
        }).workers(1).name("prio").build());
        for (int i = 0; i < 500 && order.size() < 40; i++) {
            Thread.sleep(10);
        }
        assertThat(order).hasSize(40);
        assertThat(order.subList(0, 20)).containsOnly(Priority.HIGH);
        for (int i = 0; i < 500 && !d.pending().isEmpty(); i++) {
            Thread.sleep(10); // acknowledged a moment after the handler returns
        }
        assertThat(d.pending()).isEmpty();
    }

    @Test
    @DisplayName("a job whose deadline the limiter's predicted wait would miss is rejected at once with that wait")
    void deadlineRejectedEarly() throws Exception {
        MemoryJobQueue q = queue(Duration.ofSeconds(30), 3);
        RateLimiter l = limiter(Policy.of(Limit.of("requests", 1, Duration.ofSeconds(20), Algorithm.GCRA)));
        AtomicInteger ran = new AtomicInteger();
        Dispatcher<Integer> d = closing(Dispatcher.builder(q, l, j -> ran.incrementAndGet()).name("deadline")
                .build());
        assertThat(d.submit(job("first", "t", Priority.NORMAL)).get(10, TimeUnit.SECONDS)).isEqualTo(1);
        long deadline = Ticker.system().nowMicros() + 2_000_000;
        CompletableFuture<Integer> late = d.submit(JobRequest.builder(new byte[0]).tenant("t")
                .deadlineMicros(deadline).build());
        assertThat(late).failsWithin(Duration.ofSeconds(10)).withThrowableOfType(ExecutionException.class)
                .havingCause().isInstanceOf(DeadlineUnreachableException.class)
                .satisfies(e -> assertThat(((DeadlineUnreachableException) e).predictedWait())
                        .isGreaterThan(Duration.ofSeconds(15)));
        assertThat(ran.get()).isEqualTo(1);
        assertThat(q.depth(Priority.NORMAL)).isZero();
    }

    @Test
    @DisplayName("a refund on the limiter key the dispatcher waits for wakes it: the job starts at once instead of at"
            + " the predicted moment")
    void refundWakesTheWaitingJob() throws Exception {
        MemoryJobQueue q = queue(Duration.ofMinutes(5), 3);
        RateLimiter l = limiter(Policy.of(Limit.of("requests", 1, Duration.ofMinutes(2), Algorithm.GCRA)));
        Dispatcher<String> d = closing(Dispatcher.builder(q, l, (JobHandler<String>) j -> text(j))
                .name("refunds").build());
        assertThat(d.submit(job("a", "t", Priority.NORMAL)).get(10, TimeUnit.SECONDS)).isEqualTo("a");
        CompletableFuture<String> b = d.submit(job("b", "t", Priority.NORMAL));
        Thread coordinator = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals("sluice-dispatcher-refunds")).findFirst().orElseThrow();
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while ((d.pending().isEmpty() || coordinator.getState() != Thread.State.TIMED_WAITING)
                && System.nanoTime() < until) {
            Thread.sleep(5);
        }
        assertThat(coordinator.getState()).as("the coordinator sleeps the 2 minutes the limiter predicted")
                .isEqualTo(Thread.State.TIMED_WAITING);

        l.refund("queue", Cost.request()); // the default limiter key
        assertThat(b.get(20, TimeUnit.SECONDS)).isEqualTo("b");
    }

    @Test
    @DisplayName("cancelling a waiting job's future removes it from the queue; it never runs")
    void cancelRemoves() throws Exception {
        MemoryJobQueue q = queue(Duration.ofSeconds(30), 3);
        RateLimiter l = limiter(Policy.of(Limit.of("requests", 1, Duration.ofSeconds(30), Algorithm.GCRA)));
        Set<String> ran = ConcurrentHashMap.newKeySet();
        Dispatcher<String> d = closing(Dispatcher.builder(q, l, j -> {
            ran.add(text(j));
            return text(j);
        }).name("cancel").build());
        assertThat(d.submit(job("a", "t", Priority.NORMAL)).get(10, TimeUnit.SECONDS)).isEqualTo("a");
        // "b" is taken and held for the limiter (30 s away); "c" waits behind it (taken too, or still queued).
        CompletableFuture<String> b = d.submit(job("b", "t", Priority.NORMAL));
        CompletableFuture<String> c = d.submit(job("c", "t", Priority.NORMAL));
        for (int i = 0; i < 500 && d.pending().isEmpty(); i++) {
            Thread.sleep(10);
        }
        assertThat(c.cancel(false)).isTrue();
        assertThat(q.depth(Priority.NORMAL)).isEqualTo(1);
        assertThat(b.cancel(false)).isTrue();
        d.close();
        assertThat(ran).containsExactly("a");
        assertThat(d.pending()).isEmpty();
    }

    @Test
    @DisplayName("a job cancelled while held for the limiter whose ack finds its lease lost comes back and is still "
            + "skipped: it never runs")
    void cancelledJobWhoseAckFailsNeverRuns() throws Exception {
        MemoryJobQueue memory = queue(Duration.ofMillis(300), 5);
        java.util.concurrent.atomic.AtomicBoolean lost = new java.util.concurrent.atomic.AtomicBoolean();
        JobQueue q = new ForwardingQueue(memory) {
            @Override
            public boolean ack(Lease lease) {
                if (text(lease.job()).equals("b") && lost.compareAndSet(false, true)) {
                    return false; // as if the lease had expired: the queue delivers it again
                }
                return super.ack(lease);
            }
        };
        RateLimiter l = limiter(Policy.of(Limit.of("requests", 1, Duration.ofSeconds(3), Algorithm.GCRA)));
        Set<String> ran = ConcurrentHashMap.newKeySet();
        Dispatcher<String> d = closing(Dispatcher.builder(q, l, j -> {
            ran.add(text(j));
            return text(j);
        }).name("cancel-lost").build());
        assertThat(d.submit(job("a", "t", Priority.NORMAL)).get(10, TimeUnit.SECONDS)).isEqualTo("a");
        CompletableFuture<String> b = d.submit(job("b", "t", Priority.NORMAL)); // held for the limiter, 3 s away
        for (int i = 0; i < 500 && d.pending().isEmpty(); i++) {
            Thread.sleep(10);
        }
        assertThat(b.cancel(false)).isTrue();
        assertThat(lost.get()).as("the first ack of b was refused").isTrue();
        // b comes back once its lease (300 ms) runs out, long before the limiter would admit it, and is acked then
        for (int i = 0; i < 1000 && memory.depth(Priority.NORMAL) > 0; i++) {
            Thread.sleep(10);
        }
        assertThat(memory.depth(Priority.NORMAL)).isZero();
        assertThat(d.submit(job("c", "t", Priority.NORMAL)).get(10, TimeUnit.SECONDS)).isEqualTo("c");
        assertThat(ran).containsExactlyInAnyOrder("a", "c");
    }

    @Test
    @DisplayName("a job whose lease expires while it runs and that this dispatcher runs again frees both workers once"
            + " both runs end")
    void redeliveryToTheSameDispatcherFreesItsWorker() throws Exception {
        ManualTicker queueTime = new ManualTicker(1_000_000_000L);
        MemoryJobQueue q = MemoryJobQueue.builder().ticker(queueTime).leaseDuration(Duration.ofSeconds(30)).build();
        CountDownLatch firstRunStarted = new CountDownLatch(1);
        CountDownLatch endFirstRun = new CountDownLatch(1);
        AtomicInteger firstRunEnded = new AtomicInteger();
        CountDownLatch bothLaterStarted = new CountDownLatch(2);
        CountDownLatch endLater = new CountDownLatch(1);
        Dispatcher<String> d = closing(Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> {
            if (text(j).equals("slow")) {
                if (j.deliveries() == 1) {
                    firstRunStarted.countDown();
                    endFirstRun.await();
                    firstRunEnded.incrementAndGet();
                    return "first run";
                }
                return "second run";
            }
            bothLaterStarted.countDown();
            endLater.await();
            return "later";
        }).workers(2).idlePoll(Duration.ofMillis(20)).build());
        try {
            CompletableFuture<String> slow = d.submit(job("slow", "t", Priority.NORMAL));
            assertThat(firstRunStarted.await(10, TimeUnit.SECONDS)).isTrue();
            queueTime.advance(Duration.ofSeconds(31)); // the lease expires: the free worker takes the job again
            assertThat(slow.get(10, TimeUnit.SECONDS)).isEqualTo("second run");
            endFirstRun.countDown();
            for (int i = 0; i < 500 && firstRunEnded.get() == 0; i++) {
                Thread.sleep(10);
            }
            assertThat(firstRunEnded).hasValue(1);

            d.submit(job("a", "t", Priority.NORMAL));
            d.submit(job("b", "t", Priority.NORMAL));
            assertThat(bothLaterStarted.await(10, TimeUnit.SECONDS)).as("both workers are free again").isTrue();
        } finally {
            endFirstRun.countDown();
            endLater.countDown();
        }
    }

    @Test
    @DisplayName("a job cancelled after the queue leased it to the dispatcher, before it is among the ready jobs, never"
            + " runs and charges nothing")
    void cancelledWhileBeingTaken() throws Exception {
        CompletableFuture<CompletableFuture<String>> target = new CompletableFuture<>();
        JobQueue q = new ForwardingQueue(queue(Duration.ofSeconds(30), 3)) {
            @Override
            public List<Lease> take(Priority priority, String tenant, int max) {
                List<Lease> taken = super.take(priority, tenant, max);
                if (taken.stream().anyMatch(l -> text(l.job()).equals("cancel me"))) {
                    target.join().cancel(false); // the queue no longer lets it be cancelled: it is leased
                }
                return taken;
            }
        };
        CountingLimiter counting = new CountingLimiter(limiter(UNBOUNDED));
        List<String> runs = Collections.synchronizedList(new ArrayList<>());
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Dispatcher<String> d = closing(Dispatcher.builder(q, counting, (JobHandler<String>) j -> {
            runs.add(text(j));
            return text(j);
        }).workers(1).meterRegistry(registry).build());
        target.complete(d.submit(job("cancel me", "t", Priority.NORMAL)));
        assertThat(d.submit(job("after", "t", Priority.NORMAL)).get(10, TimeUnit.SECONDS)).isEqualTo("after");
        assertThat(runs).containsExactly("after");
        assertThat(counting.charged()).as("units charged for jobs that ran").isEqualTo(1);
        assertThat(registry.get(SluiceMetricNames.QUEUE_JOBS).tag("priority", "normal").tag("result", "cancelled")
                .counter().count()).isEqualTo(1);
        assertThat(d.pending()).isEmpty();
    }

    @Test
    @DisplayName("resubmitting an idempotency key whose job this dispatcher already finished fails at once, naming the"
            + " job, and holds no future")
    void resubmittedKeyAfterTheJobFinished() throws Exception {
        MemoryJobQueue q = queue(Duration.ofSeconds(30), 3);
        AtomicInteger runs = new AtomicInteger();
        Dispatcher<String> d = closing(Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> {
            runs.incrementAndGet();
            return text(j);
        }).build());
        JobRequest request = JobRequest.builder("once".getBytes(StandardCharsets.UTF_8)).tenant("t")
                .idempotencyKey("order-17").build();
        assertThat(d.submit(request).get(10, TimeUnit.SECONDS)).isEqualTo("once");

        CompletableFuture<String> again = d.submit(request);
        assertThat(again).failsWithin(Duration.ofSeconds(10)).withThrowableOfType(ExecutionException.class)
                .havingCause().isInstanceOf(IllegalStateException.class).withMessageContaining("order-17")
                .withMessageContaining("already finished");
        assertThat(runs).hasValue(1);
        assertThat(d.pending()).isEmpty();
    }

    @ParameterizedTest(name = "renewal {0}")
    @ValueSource(strings = {"lost", "failed"})
    @DisplayName("a job held for the limiter whose lease cannot be renewed does not run on that delivery, its units go"
            + " back, and a later delivery runs it")
    void unrenewableLeaseDoesNotRun(String renewal) throws Exception {
        MemoryJobQueue memory = queue(Duration.ofSeconds(2), 5);
        JobQueue q = new ForwardingQueue(memory) {
            @Override
            public boolean extend(Lease lease) {
                if (!text(lease.job()).equals("second")) {
                    return super.extend(lease); // "first" runs at once, or after a renewal if the machine is slow
                }
                if (renewal.equals("failed")) {
                    throw new IllegalStateException("store unreachable");
                }
                return false;
            }
        };
        CountingLimiter counting = new CountingLimiter(
                limiter(Policy.of(Limit.of("requests", 1, Duration.ofMillis(300), Algorithm.GCRA))));
        List<String> runs = Collections.synchronizedList(new ArrayList<>());
        Dispatcher<String> d = closing(Dispatcher.builder(q, counting, (JobHandler<String>) j -> {
            runs.add(text(j) + "@" + j.deliveries());
            return text(j);
        }).idlePoll(Duration.ofMillis(50)).build());
        CompletableFuture<String> first = d.submit(job("first", "t", Priority.NORMAL));
        CompletableFuture<String> second = d.submit(job("second", "t", Priority.NORMAL));
        assertThat(first.get(10, TimeUnit.SECONDS)).isEqualTo("first");
        assertThat(second.get(10, TimeUnit.SECONDS)).isEqualTo("second");
        assertThat(runs).containsExactly("first@1", "second@2");
        assertThat(counting.charged()).as("units charged for jobs that ran").isEqualTo(runs.size());
    }

    @Test
    @DisplayName("a limiter that throws (its store unreachable) holds the jobs, which run once it answers again; a "
            + "cost the limiter refuses as invalid fails that job alone, at once")
    void limiterFailureIsNotTheJobs() throws Exception {
        MemoryJobQueue q = queue(Duration.ofSeconds(30), 3);
        java.util.concurrent.atomic.AtomicBoolean down = new java.util.concurrent.atomic.AtomicBoolean(true);
        AtomicInteger refused = new AtomicInteger();
        RateLimiter failing = new ForwardingLimiter(limiter(UNBOUNDED)) {
            @Override
            public Decision tryAcquire(String key, Cost cost) {
                if (down.get()) {
                    refused.incrementAndGet();
                    throw new IllegalStateException("limiter store unreachable");
                }
                return super.tryAcquire(key, cost);
            }
        };
        List<String> runs = Collections.synchronizedList(new ArrayList<>());
        Dispatcher<String> d = closing(Dispatcher.builder(q, failing, (JobHandler<String>) j -> {
            runs.add(text(j));
            return text(j);
        }).cost(j -> text(j).equals("huge") ? Cost.of("tokens", 1) : Cost.request()).build());
        CompletableFuture<String> first = d.submit(job("first", "t", Priority.NORMAL));
        CompletableFuture<String> second = d.submit(job("second", "t", Priority.NORMAL));
        for (int i = 0; i < 500 && refused.get() < 3; i++) {
            Thread.sleep(10);
        }
        assertThat(refused.get()).as("looked at while down").isGreaterThanOrEqualTo(3);
        assertThat(first).isNotDone();
        assertThat(second).isNotDone();
        assertThat(runs).isEmpty();
        down.set(false);
        assertThat(first.get(10, TimeUnit.SECONDS)).isEqualTo("first");
        assertThat(second.get(10, TimeUnit.SECONDS)).isEqualTo("second");
        // a dimension the policy has not: the limiter refuses it as invalid, and the job can never run
        CompletableFuture<String> huge = d.submit(job("huge", "t", Priority.NORMAL));
        assertThat(huge).failsWithin(Duration.ofSeconds(10)).withThrowableOfType(ExecutionException.class)
                .havingCause().isInstanceOf(IllegalArgumentException.class);
        assertThat(d.submit(job("after", "t", Priority.NORMAL)).get(10, TimeUnit.SECONDS)).isEqualTo("after");
        // first and second start together on two workers: either may run first
        assertThat(runs).hasSize(3).endsWith("after");
        assertThat(runs.subList(0, 2)).containsExactlyInAnyOrder("first", "second");
    }

    @Test
    @DisplayName("two dispatchers on one queue: the futures a dispatcher holds for jobs the other ran fail at their "
            + "deadline (DeadlineUnreachableException) or after the future timeout (TimeoutException) instead of "
            + "pending forever; those of jobs it runs itself complete")
    void futuresOfJobsRunElsewhereGiveUp() throws Exception {
        MemoryJobQueue q = queue(Duration.ofSeconds(30), 3);
        CountDownLatch release = new CountDownLatch(1);
        Set<String> ranOnOther = ConcurrentHashMap.newKeySet();
        // one worker, kept busy: it takes no further job, so the other dispatcher runs them
        Dispatcher<String> busy = closing(Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> {
            release.await();
            return text(j);
        }).name("busy").workers(1).futureTimeout(Duration.ofSeconds(2)).build());
        CompletableFuture<String> blocker = busy.submit(job("blocker", "t", Priority.NORMAL));
        for (int i = 0; i < 500 && busy.pending().isEmpty(); i++) {
            Thread.sleep(10);
        }
        assertThat(busy.pending()).hasSize(1);
        Dispatcher<String> other = closing(Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> {
            ranOnOther.add(text(j));
            return text(j);
        }).name("other").build());
        long deadline = Ticker.system().nowMicros() + 1_500_000;
        CompletableFuture<String> timed = busy.submit(JobRequest.builder("timed".getBytes(StandardCharsets.UTF_8))
                .tenant("t").deadlineMicros(deadline).build());
        CompletableFuture<String> untimed = busy.submit(job("untimed", "t", Priority.NORMAL));
        assertThat(timed).failsWithin(Duration.ofSeconds(10)).withThrowableOfType(ExecutionException.class)
                .havingCause().isInstanceOf(DeadlineUnreachableException.class);
        assertThat(untimed).failsWithin(Duration.ofSeconds(10)).withThrowableOfType(ExecutionException.class)
                .havingCause().isInstanceOf(java.util.concurrent.TimeoutException.class)
                .withMessageContaining("another instance");
        for (int i = 0; i < 1000 && !ranOnOther.contains("untimed"); i++) {
            Thread.sleep(10);
        }
        assertThat(ranOnOther).contains("untimed"); // and "timed", unless a slow machine let its deadline pass
        assertThat(other.submit(job("own", "t", Priority.NORMAL)).get(10, TimeUnit.SECONDS)).isEqualTo("own");
        Thread.sleep(2_500); // past the busy one's future timeout: a running job's future does not give up
        assertThat(blocker).isNotDone();
        release.countDown();
        assertThat(blocker.get(10, TimeUnit.SECONDS)).isEqualTo("blocker");
    }

    @Test
    @DisplayName("a future that gives up on a job still waiting in the queue removes the job: it would run for nobody")
    void givingUpRemovesAWaitingJob() throws Exception {
        MemoryJobQueue q = queue(Duration.ofSeconds(30), 3);
        CountDownLatch release = new CountDownLatch(1);
        Set<String> ran = ConcurrentHashMap.newKeySet();
        Dispatcher<String> d = closing(Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> {
            ran.add(text(j));
            if (text(j).equals("blocker")) {
                release.await();
            }
            return text(j);
        }).name("give-up").workers(1).futureTimeout(Duration.ofSeconds(2)).build());
        CompletableFuture<String> blocker = d.submit(job("blocker", "t", Priority.NORMAL));
        for (int i = 0; i < 500 && d.pending().isEmpty(); i++) {
            Thread.sleep(10);
        }
        CompletableFuture<String> stuck = d.submit(job("stuck", "t", Priority.NORMAL)); // no free worker
        assertThat(stuck).failsWithin(Duration.ofSeconds(10)).withThrowableOfType(ExecutionException.class)
                .havingCause().isInstanceOf(java.util.concurrent.TimeoutException.class);
        assertThat(q.depth(Priority.NORMAL)).as("only the blocker, leased").isEqualTo(1);
        release.countDown();
        assertThat(blocker.get(10, TimeUnit.SECONDS)).as("running here: not given up").isEqualTo("blocker");
        assertThat(ran).containsExactly("blocker");
    }

    @Test
    @DisplayName("a failing job is given back and retried; after the last delivery it is dead-lettered and its future"
            + " fails")
    void failuresRetryThenDeadLetter() throws Exception {
        MemoryJobQueue q = queue(Duration.ofSeconds(30), 3);
        AtomicInteger attempts = new AtomicInteger();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Dispatcher<String> d = closing(Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> {
            if (text(j).equals("poison")) {
                attempts.incrementAndGet();
                throw new IllegalStateException("poison");
            }
            return "ok";
        }).name("poison").meterRegistry(registry).build());
        CompletableFuture<String> poison = d.submit(job("poison", "t", Priority.NORMAL));
        CompletableFuture<String> fine = d.submit(job("fine", "t", Priority.NORMAL));
        assertThat(fine.get(10, TimeUnit.SECONDS)).isEqualTo("ok");
        assertThat(poison).failsWithin(Duration.ofSeconds(10)).withThrowableOfType(ExecutionException.class)
                .havingCause().isInstanceOf(IllegalStateException.class);
        assertThat(attempts.get()).isEqualTo(3);
        // The queue dead-letters it when it would be delivered a fourth time.
        for (int i = 0; i < 300 && q.deadLetters(1).isEmpty(); i++) {
            Thread.sleep(10);
        }
        assertThat(q.deadLetters(10)).singleElement().satisfies(j -> assertThat(j.deliveries()).isEqualTo(3));
        assertThat(registry.get(SluiceMetricNames.QUEUE_JOBS).tag("priority", "normal")
                .tag("result", "dead_lettered").counter().count())
                .isEqualTo(1);
        assertThat(registry.get(SluiceMetricNames.QUEUE_JOBS).tag("priority", "normal")
                .tag("result", "failed").counter().count())
                .isEqualTo(2);
        assertThat(registry.get(SluiceMetricNames.QUEUE_JOBS).tag("priority", "normal")
                .tag("result", "done").counter().count())
                .isEqualTo(1);
        assertThat(registry.get(SluiceMetricNames.QUEUE_WAIT).timers()).isNotEmpty();
        assertThat(registry.get(SluiceMetricNames.QUEUE_DEPTH).tag("priority", "normal").gauge().value())
                .isZero();
    }

    @Test
    @DisplayName("1,000 jobs, a dispatcher whose workers die after 300 acks and another started: 1,000 distinct"
            + " completions, duplicates only among the jobs the dead one held")
    void killedDispatcherLosesNothing() throws Exception {
        MemoryJobQueue q = queue(Duration.ofMillis(500), 5);
        int total = 1000;
        for (int i = 0; i < total; i++) {
            q.enqueue(job("j" + i, "t" + (i % 4), Priority.NORMAL));
        }
        Map<String, AtomicInteger> completions = new ConcurrentHashMap<>();
        Set<String> heldByDead = ConcurrentHashMap.newKeySet();
        AtomicInteger acks = new AtomicInteger();
        CountDownLatch never = new CountDownLatch(1);
        // The first dispatcher's workers hang for good once 300 of its jobs are done (as if its process froze):
        // what they hold is neither acked nor given back.
        Dispatcher<Void> first = Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<Void>) j -> {
            if (acks.get() >= 300) {
                heldByDead.add(text(j));
                if (j.deliveries() == 1 && heldByDead.size() % 2 == 0) {
                    completions.computeIfAbsent(text(j), k -> new AtomicInteger()).incrementAndGet();
                }
                never.await();
            }
            completions.computeIfAbsent(text(j), k -> new AtomicInteger()).incrementAndGet();
            acks.incrementAndGet();
            return null;
        }).workers(4).name("dying").gracePeriod(Duration.ZERO).build();
        for (int i = 0; i < 1000 && heldByDead.size() < 4; i++) {
            Thread.sleep(10);
        }
        assertThat(heldByDead).hasSize(4);
        Dispatcher<Void> second = closing(Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<Void>) j -> {
            completions.computeIfAbsent(text(j), k -> new AtomicInteger()).incrementAndGet();
            return null;
        }).workers(2).name("second").idlePoll(Duration.ofMillis(100)).build());
        for (int i = 0; i < 1000 && completions.size() < total; i++) {
            Thread.sleep(10);
        }
        for (int i = 0; i < 300 && q.depth(Priority.NORMAL) > 0; i++) {
            Thread.sleep(10);
        }
        assertThat(completions).hasSize(total);
        completions.forEach((job, n) -> {
            if (n.get() > 1) {
                assertThat(heldByDead).as("duplicate " + job).contains(job);
            }
        });
        assertThat(q.depth(Priority.NORMAL)).isZero();
        assertThat(second.pending()).isEmpty();
        never.countDown();
        first.close();
    }

    @Test
    @DisplayName("close() lets running jobs finish, gives back what it holds, fails the rest's futures, and leaves"
            + " no pending job and no thread")
    void closeDrains() throws Exception {
        MemoryJobQueue q = queue(Duration.ofSeconds(30), 3);
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch bothRunning = new CountDownLatch(2);
        Dispatcher<String> d = Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> {
            bothRunning.countDown();
            release.await();
            return text(j);
        }).workers(2).name("closing").gracePeriod(Duration.ofSeconds(20)).build();
        List<CompletableFuture<String>> fs = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            fs.add(d.submit(job("j" + i, "t", Priority.NORMAL)));
        }
        assertThat(bothRunning.await(10, TimeUnit.SECONDS)).isTrue();
        Thread closer = new Thread(d::close);
        closer.start();
        assertThat(awaitState(closer, Thread.State.TIMED_WAITING)).as("close() waits for the running jobs").isTrue();
        release.countDown();
        closer.join(30_000);
        assertThat(closer.isAlive()).isFalse();
        assertThat(d.pending()).isEmpty();
        long done = fs.stream().filter(f -> f.isDone() && !f.isCompletedExceptionally()).count();
        assertThat(done).isEqualTo(2);
        assertThat(fs).allMatch(CompletableFuture::isDone);
        assertThat(fs.stream().filter(CompletableFuture::isCompletedExceptionally))
                .allSatisfy(f -> assertThat(f).failsWithin(Duration.ZERO).withThrowableOfType(ExecutionException.class)
                        .havingCause().isInstanceOf(RejectedExecutionException.class));
        // The 8 jobs not run stay queued, none leased.
        assertThat(q.depth(Priority.NORMAL)).isEqualTo(8);
        assertThat(q.take(Priority.NORMAL, "t", 100)).hasSize(8);
        assertThat(d.submit(job("late", "t", Priority.NORMAL))).isCompletedExceptionally();
        assertThat(dispatcherThreadsAlive("closing")).isFalse();
    }

    @Test
    @DisplayName("a submit still enqueueing when close() runs gets a future that fails at once (the job stays"
            + " queued), instead of one left pending forever")
    void submitRacingClose() throws Exception {
        MemoryJobQueue memory = queue(Duration.ofSeconds(30), 3);
        GatedQueue q = new GatedQueue(memory, "late"); // a store round trip that outlasts close()
        Dispatcher<String> d = Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> text(j))
                .name("racing").gracePeriod(Duration.ofSeconds(1)).build();
        CompletableFuture<CompletableFuture<String>> submitted =
                CompletableFuture.supplyAsync(() -> d.submit(job("late", "t", Priority.NORMAL)));
        assertThat(q.entered.await(10, TimeUnit.SECONDS)).isTrue();
        Thread closer = new Thread(d::close);
        closer.start();
        // close() ends while the enqueue is still out (submits enqueue outside the dispatcher's lock)
        closer.join(30_000);
        assertThat(closer.isAlive()).isFalse();
        assertThat(submitted).isNotDone();
        q.release.countDown();
        assertThat(submitted.get(10, TimeUnit.SECONDS)).failsWithin(Duration.ofSeconds(10))
                .withThrowableOfType(ExecutionException.class).havingCause()
                .isInstanceOf(RejectedExecutionException.class).withMessageContaining("stays queued");
        assertThat(memory.depth(Priority.NORMAL)).as("the job stays queued for another instance").isEqualTo(1);
        assertThat(d.pending()).isEmpty();
    }

    @Test
    @DisplayName("close() past its grace period interrupts running jobs and gives their leases back")
    void closeGivesBackAfterGrace() throws Exception {
        MemoryJobQueue q = queue(Duration.ofSeconds(30), 3);
        CountDownLatch running = new CountDownLatch(1);
        Dispatcher<String> d = Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> {
            running.countDown();
            Thread.sleep(60_000);
            return "never";
        }).workers(1).name("hung").gracePeriod(Duration.ofMillis(200)).build();
        CompletableFuture<String> f = d.submit(job("slow", "t", Priority.NORMAL));
        assertThat(running.await(10, TimeUnit.SECONDS)).isTrue();
        d.close();
        assertThat(d.pending()).isEmpty();
        assertThat(f).isCompletedExceptionally();
        List<dev.sluice.api.queue.Lease> back = q.take(Priority.NORMAL, "t", 10);
        assertThat(back).singleElement().satisfies(l -> assertThat(l.job().deliveries()).isEqualTo(2));
        assertThat(dispatcherThreadsAlive("hung")).isFalse();
    }

    @Test
    @DisplayName("an idle dispatcher wakes on a new job without polling (idle look once a minute)")
    void wakesOnNewJobs() throws Exception {
        MemoryJobQueue q = queue(Duration.ofSeconds(30), 3);
        Dispatcher<String> d = closing(Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> text(j))
                .idlePoll(Duration.ofMinutes(1)).name("idle").build());
        Thread.sleep(50);
        assertThat(d.submit(job("x", "t", Priority.NORMAL)).get(10, TimeUnit.SECONDS)).isEqualTo("x");
        // Also a job enqueued straight into the queue by another producer.
        AtomicLong before = new AtomicLong(q.depth(Priority.NORMAL));
        q.enqueue(job("y", "t", Priority.NORMAL));
        for (int i = 0; i < 500 && q.depth(Priority.NORMAL) > before.get(); i++) {
            Thread.sleep(10);
        }
        assertThat(q.depth(Priority.NORMAL)).isZero();
    }

    @Test
    @DisplayName("DispatcherModule wires a dispatcher from the bound queue, limiter and handler")
    void guiceWiring() throws Exception {
        JobQueue q = queue(Duration.ofSeconds(30), 3);
        Injector injector = Guice.createInjector(new MemoryBackendModule(), new LimiterModule("q", UNBOUNDED),
                b -> b.bind(JobQueue.class).toInstance(q),
                b -> b.bind(new TypeLiteral<JobHandler<String>>() { }).toInstance(j -> "ran " + text(j)),
                new DispatcherModule<>("wired", String.class, 2));
        Dispatcher<String> d = closing(injector.getInstance(Key.get(new TypeLiteral<Dispatcher<String>>() { })));
        assertThat(d.name()).isEqualTo("wired");
        assertThat(d.submit(job("x", "t", Priority.NORMAL)).get(10, TimeUnit.SECONDS)).isEqualTo("ran x");
    }

    /** Delegates everything; tests override what they observe. */
    @Test
    @Timeout(60)
    @DisplayName("submits reach the queue concurrently: four enqueues are in the store at once, and each future"
            + " completes")
    void submitsEnqueueConcurrently() throws Exception {
        CountDownLatch allIn = new CountDownLatch(4);
        AtomicInteger metThere = new AtomicInteger();
        JobQueue q = new ForwardingQueue(queue(Duration.ofSeconds(30), 3)) {
            @Override
            public String enqueue(JobRequest request) {
                allIn.countDown();
                try {
                    if (allIn.await(10, TimeUnit.SECONDS)) {
                        metThere.incrementAndGet();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return super.enqueue(request);
            }
        };
        Dispatcher<String> d = closing(Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> text(j))
                .name("concurrent-submits").build());
        ExecutorService submitters = Executors.newFixedThreadPool(4);
        try {
            List<Future<CompletableFuture<String>>> submits = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                String text = "s" + i;
                submits.add(submitters.submit(() -> d.submit(job(text, "t", Priority.NORMAL))));
            }
            for (int i = 0; i < 4; i++) {
                assertThat(submits.get(i).get(30, TimeUnit.SECONDS).get(10, TimeUnit.SECONDS)).isEqualTo("s" + i);
            }
        } finally {
            submitters.shutdownNow();
        }
        assertThat(metThere.get()).as("enqueues that found all four in the store at once").isEqualTo(4);
    }

    @Test
    @Timeout(60)
    @DisplayName("a job that runs and finishes before its submit has returned still completes the submit's future")
    void jobFinishedBeforeItsSubmitReturned() throws Exception {
        LateQueue q = new LateQueue(queue(Duration.ofSeconds(30), 3), 1);
        Dispatcher<String> d = closing(Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> text(j))
                .name("finished-first").build());
        q.dispatcher.set(d);
        assertThat(d.submit(job("quick", "t", Priority.NORMAL)).get(10, TimeUnit.SECONDS)).isEqualTo("quick");
    }

    @Test
    @Timeout(60)
    @DisplayName("a resubmission of an idempotency key still on its way back when the job finishes gets the job's"
            + " result; one made after that is told the job finished")
    void resubmissionInFlightGetsTheResult() throws Exception {
        LateQueue q = new LateQueue(queue(Duration.ofSeconds(30), 3), 2); // the resubmission comes back late
        CountDownLatch go = new CountDownLatch(1);
        Dispatcher<String> d = closing(Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> {
            go.await(10, TimeUnit.SECONDS);
            return text(j);
        }).name("resubmitted").build());
        q.dispatcher.set(d);
        JobRequest keyed = JobRequest.builder("once".getBytes(StandardCharsets.UTF_8)).tenant("t")
                .idempotencyKey("key-1").build();
        CompletableFuture<String> first = d.submit(keyed);
        CompletableFuture<CompletableFuture<String>> again = CompletableFuture.supplyAsync(() -> d.submit(keyed));
        for (int i = 0; i < 1000 && q.enqueues.get() < 2; i++) {
            Thread.sleep(10);
        }
        go.countDown();
        assertThat(first.get(10, TimeUnit.SECONDS)).isEqualTo("once");
        assertThat(again.get(20, TimeUnit.SECONDS).get(10, TimeUnit.SECONDS)).isEqualTo("once");
        assertThat(d.submit(keyed)).failsWithin(Duration.ofSeconds(10)).withThrowableOfType(ExecutionException.class)
                .havingCause().isInstanceOf(IllegalStateException.class).withMessageContaining("already finished");
    }

    @Test
    @Timeout(60)
    @DisplayName("a submit stuck in its enqueue holds up no one: a job enqueued elsewhere runs and its worker is"
            + " free again meanwhile, and its result is not kept")
    void stuckSubmitHoldsUpNoOne() throws Exception {
        MemoryJobQueue memory = queue(Duration.ofSeconds(30), 3);
        GatedQueue q = new GatedQueue(memory, "stuck");
        Set<String> ran = ConcurrentHashMap.newKeySet();
        List<WeakReference<String>> results = new CopyOnWriteArrayList<>();
        Dispatcher<String> d = closing(Dispatcher.builder(q, limiter(UNBOUNDED), (JobHandler<String>) j -> {
            ran.add(text(j));
            String result = text(j);
            results.add(new WeakReference<>(result));
            return result;
        }).workers(1).name("stuck-submit").build());
        CompletableFuture<CompletableFuture<String>> stuck =
                CompletableFuture.supplyAsync(() -> d.submit(job("stuck", "t", Priority.NORMAL)));
        assertThat(q.entered.await(10, TimeUnit.SECONDS)).isTrue();
        for (int i = 0; i < 3; i++) { // as another instance's producer: no future here; one worker runs them all
            memory.enqueue(job("elsewhere" + i, "t", Priority.NORMAL));
        }
        for (int i = 0; i < 1000 && (memory.depth(Priority.NORMAL) > 0 || !d.pending().isEmpty()); i++) {
            Thread.sleep(10);
        }
        assertThat(ran).containsExactlyInAnyOrder("elsewhere0", "elsewhere1", "elsewhere2");
        assertThat(d.pending()).isEmpty();
        // nothing keeps their results for the submit in flight, which none of them can be
        for (int i = 0; i < 50 && results.stream().anyMatch(r -> r.get() != null); i++) {
            System.gc();
            Thread.sleep(20);
        }
        assertThat(results).hasSize(3).allMatch(r -> r.get() == null);
        assertThat(stuck).isNotDone();
        q.release.countDown();
        assertThat(stuck.get(10, TimeUnit.SECONDS).get(10, TimeUnit.SECONDS)).isEqualTo("stuck");
    }

    /** Counts grants and refunds: what stays charged. */
    private static class CountingLimiter extends ForwardingLimiter {
        private final AtomicInteger grants = new AtomicInteger();
        private final AtomicInteger refunds = new AtomicInteger();

        CountingLimiter(RateLimiter delegate) {
            super(delegate);
        }

        @Override
        public Decision tryAcquire(String key, Cost cost) {
            Decision d = super.tryAcquire(key, cost);
            if (d.granted()) {
                grants.incrementAndGet();
            }
            return d;
        }

        @Override
        public Decision refund(String key, Cost cost) {
            refunds.incrementAndGet();
            return super.refund(key, cost);
        }

        int charged() {
            return grants.get() - refunds.get();
        }
    }

    /**
     * Returns from its {@code late}-th enqueue only once the job was acked and {@link #dispatcher} no longer holds
     * it: a store whose answer to the enqueue comes back after the job ran.
     */
    private static final class LateQueue extends ForwardingQueue {
        final AtomicReference<Dispatcher<?>> dispatcher = new AtomicReference<>();
        final AtomicInteger enqueues = new AtomicInteger();
        private final CountDownLatch acked = new CountDownLatch(1);
        private final int late;

        LateQueue(JobQueue delegate, int late) {
            super(delegate);
            this.late = late;
        }

        @Override
        public String enqueue(JobRequest request) {
            String id = super.enqueue(request);
            if (enqueues.incrementAndGet() == late) {
                try {
                    assertThat(acked.await(10, TimeUnit.SECONDS)).isTrue();
                    for (int i = 0; i < 1000 && dispatcher.get().pending().contains(id); i++) {
                        Thread.sleep(10);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                assertThat(dispatcher.get().pending()).doesNotContain(id);
            }
            return id;
        }

        @Override
        public boolean ack(Lease lease) {
            boolean held = super.ack(lease);
            acked.countDown();
            return held;
        }
    }

    /** Holds the enqueue of a job whose payload is {@code gated} until {@link #release}, as a slow store would. */
    private static final class GatedQueue extends ForwardingQueue {
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        private final String gated;

        GatedQueue(JobQueue delegate, String gated) {
            super(delegate);
            this.gated = gated;
        }

        @Override
        public String enqueue(JobRequest request) {
            if (new String(request.payload(), StandardCharsets.UTF_8).equals(gated)) {
                entered.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return super.enqueue(request);
        }
    }

    private static class ForwardingQueue implements JobQueue {
        private final JobQueue delegate;

        ForwardingQueue(JobQueue delegate) {
            this.delegate = delegate;
        }

        @Override
        public String enqueue(JobRequest request) {
            return delegate.enqueue(request);
        }

        @Override
        public List<Lease> take(Priority priority, String tenant, int max) {
            return delegate.take(priority, tenant, max);
        }

        @Override
        public Set<String> tenants(Priority priority) {
            return delegate.tenants(priority);
        }

        @Override
        public Map<Priority, Set<String>> tenantsByPriority() {
            return delegate.tenantsByPriority();
        }

        @Override
        public boolean ack(Lease lease) {
            return delegate.ack(lease);
        }

        @Override
        public boolean release(Lease lease) {
            return delegate.release(lease);
        }

        @Override
        public boolean extend(Lease lease) {
            return delegate.extend(lease);
        }

        @Override
        public boolean cancel(String jobId) {
            return delegate.cancel(jobId);
        }

        @Override
        public long depth(Priority priority) {
            return delegate.depth(priority);
        }

        @Override
        public List<Job> deadLetters(int max) {
            return delegate.deadLetters(max);
        }

        @Override
        public Duration leaseDuration() {
            return delegate.leaseDuration();
        }

        @Override
        public int maxDeliveries() {
            return delegate.maxDeliveries();
        }

        @Override
        public AutoCloseable onEnqueue(Runnable listener) {
            return delegate.onEnqueue(listener);
        }

        @Override
        public void close() {
            delegate.close();
        }
    }

    private static class ForwardingLimiter implements RateLimiter {
        private final RateLimiter delegate;

        ForwardingLimiter(RateLimiter delegate) {
            this.delegate = delegate;
        }

        @Override
        public Decision tryAcquire(String key, Cost cost) {
            return delegate.tryAcquire(key, cost);
        }

        @Override
        public Decision acquire(String key, Cost cost, Duration maxWait) throws InterruptedException {
            return delegate.acquire(key, cost, maxWait);
        }

        @Override
        public CompletableFuture<Decision> acquireAsync(String key, Cost cost, Duration maxWait) {
            return delegate.acquireAsync(key, cost, maxWait);
        }

        @Override
        public Decision refund(String key, Cost cost) {
            return delegate.refund(key, cost);
        }

        @Override
        public void close() {
            delegate.close();
        }
    }
}

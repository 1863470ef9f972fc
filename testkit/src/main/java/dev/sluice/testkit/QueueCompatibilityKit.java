package dev.sluice.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.api.ManualTicker;
import dev.sluice.api.queue.Job;
import dev.sluice.api.queue.JobQueue;
import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Lease;
import dev.sluice.api.queue.Priority;
import dev.sluice.api.queue.QueueFullException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The contract every {@link JobQueue} keeps, as a JUnit 5 suite. A queue's test is a short subclass that says how to
 * open a handle on a named queue:
 *
 * <pre>{@code
 * class MemoryQueueCompatibilityTest extends QueueCompatibilityKit {
 *     protected JobQueue openQueue(String name, Duration lease, int maxDeliveries, ManualTicker ticker) {
 *         return queues.computeIfAbsent(name, n -> MemoryJobQueue.builder().ticker(ticker)
 *                 .leaseDuration(lease).maxDeliveries(maxDeliveries).build());
 *     }
 * }
 * }</pre>
 *
 * Handles opened with the same name in one test share their jobs, like two workers on one store. Leases run on the
 * kit's {@link ManualTicker} where the queue allows it; a queue whose leases run on its server's clock says so with
 * {@link #manualLeaseClock()} and the kit then waits out leases in real time, with a short {@link #lease()}.
 */
public abstract class QueueCompatibilityKit {

    /** Deliveries before a job is dead-lettered, in every test. */
    protected static final int MAX_DELIVERIES = 3;

    /** The clock of the current test. */
    protected ManualTicker ticker;
    /** The first handle of the current test's queue. */
    protected JobQueue queue;

    private String name;
    private final List<JobQueue> handles = new ArrayList<>();

    /** A handle on the queue named {@code name} (new and empty the first time a test names it). */
    protected abstract JobQueue openQueue(String name, Duration lease, int maxDeliveries, ManualTicker ticker);

    /**
     * A handle on the new queue {@code name} that holds at most {@code maxJobs} unfinished jobs (per lane, where the
     * queue bounds lanes), or null if the queue has no such bound; the capacity tests are skipped then.
     */
    protected @Nullable JobQueue openBoundedQueue(String name, long maxJobs, ManualTicker ticker) {
        return null;
    }

    /** Whether leases expire by {@link #ticker}; if not, by real time on the store's clock. */
    protected boolean manualLeaseClock() {
        return true;
    }

    /** Whether the queue announces new jobs through {@link JobQueue#onEnqueue}. */
    protected boolean announcesEnqueue() {
        return true;
    }

    /**
     * The lease used throughout: short when leases run in real time, yet long enough that a store's round trips and
     * a slow, shared machine's pauses fit well within the part of it a test leaves (a test may let 60 % pass first).
     */
    protected Duration lease() {
        return manualLeaseClock() ? Duration.ofSeconds(30) : Duration.ofSeconds(1);
    }

    /** Stops a handle abruptly, as a crash would: no lease given back. By default it is just abandoned. */
    protected void kill(JobQueue handle) {
    }

    @BeforeEach
    void setUpQueueKit() {
        ticker = new ManualTicker(1_000_000_000L);
        name = "q" + UUID.randomUUID().toString().substring(0, 8);
        queue = open();
    }

    @AfterEach
    void tearDownQueueKit() {
        for (JobQueue h : handles) {
            try {
                h.close();
            } catch (RuntimeException ignored) {
                // a killed handle may refuse
            }
        }
        handles.clear();
    }

    /** Another handle on the current test's queue. */
    protected JobQueue open() {
        JobQueue q = openQueue(name, lease(), MAX_DELIVERIES, ticker);
        handles.add(q);
        return q;
    }

    /** Lets every lease taken so far expire. */
    protected void passLease() {
        ticker.advance(lease().plusMillis(1));
        if (!manualLeaseClock()) {
            sleep(lease().plusMillis(50));
        }
    }

    /** Lets {@code fraction} of a lease pass. */
    protected void passPartOfLease(double fraction) {
        Duration d = Duration.ofNanos((long) (lease().toNanos() * fraction));
        ticker.advance(d);
        if (!manualLeaseClock()) {
            sleep(d);
        }
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    protected static JobRequest job(String payload, String tenant, Priority priority) {
        return JobRequest.builder(payload.getBytes(StandardCharsets.UTF_8)).tenant(tenant).priority(priority).build();
    }

    protected static String text(Job job) {
        return new String(job.payload(), StandardCharsets.UTF_8);
    }

    private static List<String> texts(List<Lease> leases) {
        return leases.stream().map(l -> text(l.job())).toList();
    }

    @Test
    @DisplayName("a taken job carries what was enqueued, the id enqueue returned and delivery count 1")
    void takeCarriesTheJob() {
        JobRequest r = JobRequest.builder("hello".getBytes(StandardCharsets.UTF_8)).tenant("acme")
                .priority(Priority.HIGH).deadlineMicros(2_000_000_000L).idempotencyKey("k-1").build();
        String id = queue.enqueue(r);
        List<Lease> leases = queue.take(Priority.HIGH, "acme", 10);
        assertThat(leases).hasSize(1);
        Job j = leases.get(0).job();
        assertThat(j.id()).isEqualTo(id);
        assertThat(text(j)).isEqualTo("hello");
        assertThat(j.tenant()).isEqualTo("acme");
        assertThat(j.priority()).isEqualTo(Priority.HIGH);
        assertThat(j.deadlineMicros()).isEqualTo(2_000_000_000L);
        assertThat(j.idempotencyKey()).isEqualTo("k-1");
        assertThat(j.deliveries()).isEqualTo(1);
    }

    @Test
    @DisplayName("jobs of one lane come out oldest first, and take returns at most max of them")
    void fifoWithinALane() {
        for (int i = 0; i < 5; i++) {
            queue.enqueue(job("j" + i, "t", Priority.NORMAL));
        }
        assertThat(texts(queue.take(Priority.NORMAL, "t", 3))).containsExactly("j0", "j1", "j2");
        assertThat(texts(queue.take(Priority.NORMAL, "t", 3))).containsExactly("j3", "j4");
        assertThat(queue.take(Priority.NORMAL, "t", 3)).isEmpty();
    }

    @Test
    @DisplayName("a lane is one priority class and one tenant; tenants() and tenantsByPriority() name those with work")
    void lanesAreSeparate() {
        queue.enqueue(job("a", "t1", Priority.NORMAL));
        queue.enqueue(job("b", "t2", Priority.NORMAL));
        queue.enqueue(job("c", "t1", Priority.LOW));
        assertThat(queue.tenants(Priority.NORMAL)).containsExactlyInAnyOrder("t1", "t2");
        assertThat(queue.tenants(Priority.LOW)).containsExactly("t1");
        assertThat(queue.tenants(Priority.HIGH)).isEmpty();
        Map<Priority, Set<String>> all = queue.tenantsByPriority();
        assertThat(all.get(Priority.NORMAL)).containsExactlyInAnyOrder("t1", "t2");
        assertThat(all.get(Priority.LOW)).containsExactly("t1");
        assertThat(all.getOrDefault(Priority.HIGH, Set.of())).isEmpty();
        assertThat(texts(queue.take(Priority.NORMAL, "t2", 10))).containsExactly("b");
        assertThat(texts(queue.take(Priority.LOW, "t1", 10))).containsExactly("c");
        assertThat(texts(queue.take(Priority.NORMAL, "t1", 10))).containsExactly("a");
        assertThatThrownBy(() -> queue.take(Priority.NORMAL, "t1", 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    @DisplayName("take(max) serves the highest priority class first")
    void takeAnyPrefersHigherClasses() {
        queue.enqueue(job("low", "t", Priority.LOW));
        queue.enqueue(job("normal", "t", Priority.NORMAL));
        queue.enqueue(job("high", "u", Priority.HIGH));
        assertThat(texts(queue.take(2))).containsExactly("high", "normal");
        assertThat(texts(queue.take(2))).containsExactly("low");
    }

    @Test
    @DisplayName("a leased job is invisible until its lease expires, then delivered again with its count raised")
    void expiredLeaseRedelivers() {
        String id = queue.enqueue(job("x", "t", Priority.NORMAL));
        assertThat(queue.take(Priority.NORMAL, "t", 1)).hasSize(1);
        assertThat(queue.take(Priority.NORMAL, "t", 1)).isEmpty();
        passLease();
        List<Lease> again = queue.take(Priority.NORMAL, "t", 1);
        assertThat(again).hasSize(1);
        assertThat(again.get(0).job().id()).isEqualTo(id);
        assertThat(again.get(0).job().deliveries()).isEqualTo(2);
    }

    @Test
    @DisplayName("an acked job is gone for good: never redelivered, depth back to zero, a second ack answers false")
    void ackRemoves() {
        queue.enqueue(job("x", "t", Priority.NORMAL));
        assertThat(queue.depth(Priority.NORMAL)).isEqualTo(1);
        Lease l = queue.take(Priority.NORMAL, "t", 1).get(0);
        assertThat(queue.ack(l)).isTrue();
        assertThat(queue.ack(l)).isFalse();
        assertThat(queue.depth(Priority.NORMAL)).isZero();
        passLease();
        assertThat(queue.take(Priority.NORMAL, "t", 1)).isEmpty();
        assertThat(queue.deadLetters(10)).isEmpty();
    }

    @Test
    @DisplayName("a released job is visible again at once, ahead of younger jobs, and the delivery still counts")
    void releaseGivesBack() {
        queue.enqueue(job("old", "t", Priority.NORMAL));
        queue.enqueue(job("young", "t", Priority.NORMAL));
        Lease l = queue.take(Priority.NORMAL, "t", 1).get(0);
        assertThat(queue.release(l)).isTrue();
        assertThat(queue.release(l)).isFalse();
        List<Lease> again = queue.take(Priority.NORMAL, "t", 1);
        assertThat(texts(again)).containsExactly("old");
        assertThat(again.get(0).job().deliveries()).isEqualTo(2);
    }

    @Test
    @DisplayName("a worker whose lease expired and whose job was taken again cannot ack it; the new holder can")
    void staleLeaseCannotAck() {
        queue.enqueue(job("x", "t", Priority.NORMAL));
        Lease first = queue.take(Priority.NORMAL, "t", 1).get(0);
        passLease();
        Lease second = open().take(Priority.NORMAL, "t", 1).get(0);
        assertThat(queue.ack(first)).isFalse();
        assertThat(queue.release(first)).isFalse();
        assertThat(queue.ack(second)).isTrue();
        assertThat(queue.depth(Priority.NORMAL)).isZero();
    }

    @Test
    @DisplayName("a lease that expired with nobody taking the job since is still held: its late ack finishes the job,"
            + " and cancel refuses it meanwhile")
    void lateAckFinishesAnUntakenJob() {
        String id = queue.enqueue(job("x", "t", Priority.NORMAL));
        Lease l = queue.take(Priority.NORMAL, "t", 1).get(0);
        passLease();
        // other handles look (a take of another lane, the lanes with work): nobody takes the job
        assertThat(open().take(Priority.HIGH, "other", 1)).isEmpty();
        assertThat(queue.tenants(Priority.NORMAL)).contains("t");
        assertThat(queue.cancel(id)).isFalse();
        assertThat(queue.ack(l)).isTrue();
        assertThat(queue.take(Priority.NORMAL, "t", 1)).isEmpty();
        assertThat(queue.depth(Priority.NORMAL)).isZero();
        assertThat(queue.deadLetters(10)).isEmpty();
    }

    @Test
    @DisplayName("extending an expired lease nobody took since makes the job the worker's again for a lease from now")
    void expiredLeaseCanBeExtended() {
        queue.enqueue(job("x", "t", Priority.NORMAL));
        JobQueue other = open(); // opened first: on a real clock the renewed lease runs while a handle starts
        Lease l = queue.take(Priority.NORMAL, "t", 1).get(0);
        passLease();
        assertThat(queue.tenants(Priority.NORMAL)).contains("t");
        assertThat(queue.extend(l)).isTrue();
        assertThat(other.take(Priority.NORMAL, "t", 1)).isEmpty();
        passPartOfLease(0.5);
        assertThat(queue.take(Priority.NORMAL, "t", 1)).isEmpty();
        assertThat(queue.ack(l)).isTrue();
        assertThat(queue.depth(Priority.NORMAL)).isZero();
    }

    @Test
    @DisplayName("a job given back after its last delivery stays counted until a take reaches it, which"
            + " dead-letters it")
    void lastDeliveryGivenBackDiesAtTheNextTake() {
        String id = queue.enqueue(job("poison", "t", Priority.NORMAL));
        Lease last = null;
        for (int i = 1; i <= MAX_DELIVERIES; i++) {
            last = queue.take(Priority.NORMAL, "t", 1).get(0);
            if (i < MAX_DELIVERIES) {
                assertThat(queue.release(last)).isTrue();
            }
        }
        assertThat(queue.release(last)).isTrue();
        assertThat(queue.depth(Priority.NORMAL)).isEqualTo(1);
        assertThat(queue.deadLetters(10)).isEmpty();
        assertThat(queue.take(Priority.NORMAL, "t", 1)).isEmpty();
        assertThat(queue.deadLetters(10)).extracting(Job::id).containsExactly(id);
        assertThat(queue.depth(Priority.NORMAL)).isZero();
        assertThat(queue.cancel(id)).isFalse();
    }

    @Test
    @DisplayName("extending a lease keeps the job invisible for another lease from now")
    void extendRenewsTheLease() {
        queue.enqueue(job("x", "t", Priority.NORMAL));
        Lease l = queue.take(Priority.NORMAL, "t", 1).get(0);
        passPartOfLease(0.6);
        assertThat(queue.extend(l)).isTrue();
        passPartOfLease(0.6);
        assertThat(queue.take(Priority.NORMAL, "t", 1)).isEmpty();
        assertThat(queue.ack(l)).isTrue();
    }

    @Test
    @DisplayName("a poison job is dead-lettered after maxDeliveries deliveries and never delivered again")
    void poisonGoesToDeadLetters() {
        String id = queue.enqueue(job("poison", "t", Priority.NORMAL));
        queue.enqueue(job("fine", "t", Priority.NORMAL));
        for (int i = 1; i <= MAX_DELIVERIES; i++) {
            Lease l = queue.take(Priority.NORMAL, "t", 1).get(0);
            assertThat(l.job().id()).isEqualTo(id);
            assertThat(l.job().deliveries()).isEqualTo(i);
            if (i % 2 == 0) {
                queue.release(l);
            } else {
                passLease();
            }
        }
        passLease();
        List<Lease> next = queue.take(Priority.NORMAL, "t", 10);
        assertThat(texts(next)).containsExactly("fine");
        List<Job> dead = queue.deadLetters(10);
        assertThat(dead).hasSize(1);
        assertThat(dead.get(0).id()).isEqualTo(id);
        assertThat(text(dead.get(0))).isEqualTo("poison");
        assertThat(dead.get(0).deliveries()).isEqualTo(MAX_DELIVERIES);
        queue.ack(next.get(0));
        assertThat(queue.depth(Priority.NORMAL)).isZero();
    }

    @Test
    @DisplayName("enqueueing with a known idempotency key adds nothing and returns the first job's id")
    void idempotentEnqueue() {
        JobRequest r = JobRequest.builder(new byte[] {1}).tenant("t").idempotencyKey("once").build();
        String id = queue.enqueue(r);
        assertThat(queue.enqueue(r)).isEqualTo(id);
        assertThat(open().enqueue(r)).isEqualTo(id);
        assertThat(queue.take(Priority.NORMAL, "t", 10)).hasSize(1);
        assertThat(queue.depth(Priority.NORMAL)).isEqualTo(1);
    }

    @Test
    @DisplayName("a waiting job can be cancelled; a leased or unknown one cannot")
    void cancelRemovesWaitingJobs() {
        String a = queue.enqueue(job("a", "t", Priority.NORMAL));
        String b = queue.enqueue(job("b", "t", Priority.NORMAL));
        assertThat(queue.cancel(b)).isTrue();
        assertThat(queue.cancel(b)).isFalse();
        Lease l = queue.take(Priority.NORMAL, "t", 10).get(0);
        assertThat(l.job().id()).isEqualTo(a);
        assertThat(queue.cancel(a)).isFalse();
        assertThat(queue.depth(Priority.NORMAL)).isEqualTo(1);
        assertThat(queue.ack(l)).isTrue();
    }

    @Test
    @DisplayName("a released job is waiting again: it can be cancelled, and is then never taken again")
    void releasedJobCanBeCancelled() {
        String id = queue.enqueue(job("x", "t", Priority.NORMAL));
        Lease l = queue.take(Priority.NORMAL, "t", 1).get(0);
        assertThat(queue.release(l)).isTrue();
        assertThat(queue.cancel(id)).isTrue();
        assertThat(queue.cancel(id)).isFalse();
        assertThat(queue.depth(Priority.NORMAL)).isZero();
        passLease();
        assertThat(open().take(Priority.NORMAL, "t", 10)).isEmpty();
        assertThat(queue.take(Priority.NORMAL, "t", 10)).isEmpty();
        assertThat(queue.deadLetters(10)).isEmpty();
    }

    @Test
    @DisplayName("a full queue refuses new jobs, and every finished job (acked, dead-lettered, cancelled) frees its"
            + " place at once")
    void finishedJobsFreeTheirPlace() {
        int max = 5;
        JobQueue bounded = openBoundedQueue("bounded-" + name, max, ticker);
        assumeTrue(bounded != null, "queue has no bound");
        handles.add(bounded);
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < max; i++) {
                bounded.enqueue(job("r" + round + "j" + i, "t", Priority.NORMAL));
            }
            assertThatThrownBy(() -> bounded.enqueue(job("extra", "t", Priority.NORMAL)))
                    .isInstanceOf(QueueFullException.class);
            List<Lease> taken = bounded.take(Priority.NORMAL, "t", max);
            assertThat(taken).hasSize(max);
            taken.forEach(l -> assertThat(bounded.ack(l)).isTrue());
        }
        String cancelled = bounded.enqueue(job("cancelled", "t", Priority.NORMAL));
        assertThat(bounded.cancel(cancelled)).isTrue();
        bounded.enqueue(job("poison", "t", Priority.NORMAL));
        for (int i = 0; i < MAX_DELIVERIES; i++) {
            bounded.release(bounded.take(Priority.NORMAL, "t", 1).get(0));
        }
        assertThat(bounded.take(Priority.NORMAL, "t", 1)).isEmpty();
        assertThat(bounded.deadLetters(10)).hasSize(1);
        for (int i = 0; i < max; i++) {
            bounded.enqueue(job("last" + i, "t", Priority.NORMAL));
        }
        assertThat(bounded.depth(Priority.NORMAL)).isEqualTo(max);
    }

    @Test
    @DisplayName("a known idempotency key is answered with its job even when the queue is full: a retry of an "
            + "accepted enqueue is not refused")
    void knownKeyOnAFullQueue() {
        JobQueue bounded = openBoundedQueue("bounded-known-" + name, 2, ticker);
        assumeTrue(bounded != null, "queue has no bound");
        handles.add(bounded);
        JobRequest keyed = JobRequest.builder(new byte[] {1}).tenant("t").idempotencyKey("retried").build();
        String id = bounded.enqueue(keyed);
        bounded.enqueue(job("other", "t", Priority.NORMAL));
        assertThatThrownBy(() -> bounded.enqueue(job("extra", "t", Priority.NORMAL)))
                .isInstanceOf(QueueFullException.class);
        assertThat(bounded.enqueue(keyed)).isEqualTo(id);
        assertThat(bounded.depth(Priority.NORMAL)).isEqualTo(2);
    }

    @Test
    @DisplayName("depth counts waiting and leased jobs per priority class")
    void depthPerClass() {
        queue.enqueue(job("a", "t", Priority.HIGH));
        queue.enqueue(job("b", "t", Priority.LOW));
        queue.enqueue(job("c", "u", Priority.LOW));
        queue.take(Priority.LOW, "u", 1);
        assertThat(queue.depth(Priority.HIGH)).isEqualTo(1);
        assertThat(queue.depth(Priority.NORMAL)).isZero();
        assertThat(queue.depth(Priority.LOW)).isEqualTo(2);
    }

    @Test
    @DisplayName("new jobs are announced to listeners until the subscription is closed")
    void announcesNewJobs() throws Exception {
        assumeTrue(announcesEnqueue(), "queue does not announce new jobs");
        CountDownLatch heard = new CountDownLatch(1);
        AtomicInteger calls = new AtomicInteger();
        AutoCloseable sub = queue.onEnqueue(() -> {
            calls.incrementAndGet();
            heard.countDown();
        });
        open().enqueue(job("x", "t", Priority.NORMAL));
        assertThat(heard.await(10, TimeUnit.SECONDS)).isTrue();
        Thread.sleep(200); // any late announcement of x arrives before the close
        sub.close();
        int before = calls.get();
        // a second listener hears the next job: by then the closed one would have heard it too
        CountDownLatch probe = new CountDownLatch(1);
        AutoCloseable probing = queue.onEnqueue(probe::countDown);
        open().enqueue(job("y", "t", Priority.NORMAL));
        assertThat(probe.await(10, TimeUnit.SECONDS)).isTrue();
        Thread.sleep(200);
        probing.close();
        assertThat(calls.get()).as("calls after the subscription closed").isEqualTo(before);
    }

    @Test
    @DisplayName("concurrent workers on several handles never hold the same job at once: each job acked exactly once")
    @Timeout(120)
    void concurrentWorkersShareWithoutDuplicates() throws Exception {
        int jobs = 400;
        for (int i = 0; i < jobs; i++) {
            queue.enqueue(job("j" + i, "t" + (i % 3), Priority.NORMAL));
        }
        Map<String, AtomicInteger> acks = new ConcurrentHashMap<>();
        AtomicInteger done = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int w = 0; w < 4; w++) {
                JobQueue h = open();
                fs.add(pool.submit(() -> {
                    for (int round = 0; round < 10_000 && done.get() < jobs; round++) {
                        for (Lease l : h.take(5)) {
                            acks.computeIfAbsent(l.job().id(), k -> new AtomicInteger()).incrementAndGet();
                            assertThat(h.ack(l)).isTrue();
                            done.incrementAndGet();
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get(100, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(acks).hasSize(jobs);
        assertThat(acks.values()).allMatch(c -> c.get() == 1);
        assertThat(queue.depth(Priority.NORMAL)).isZero();
    }

    @Test
    @DisplayName("a worker killed after 300 of 1,000 acks: a new worker completes all 1,000, duplicates only among"
            + " the jobs the dead worker held")
    @Timeout(180)
    void killedWorkerLosesNothing() {
        int total = 1000;
        for (int i = 0; i < total; i++) {
            queue.enqueue(job("j" + i, "t" + (i % 4), Priority.NORMAL));
        }
        Map<String, Integer> completions = new ConcurrentHashMap<>();
        JobQueue first = open();
        int acked = 0;
        while (acked < 300) {
            List<Lease> batch = first.take(Math.min(10, 300 - acked));
            assertThat(batch).isNotEmpty();
            for (Lease l : batch) {
                completions.merge(text(l.job()), 1, Integer::sum);
                assertThat(first.ack(l)).isTrue();
                acked++;
            }
        }
        // The dead worker's jobs in flight: it ran half of them, acked none.
        List<Lease> inFlight = first.take(10);
        Set<String> inFlightJobs = new HashSet<>();
        for (int i = 0; i < inFlight.size(); i++) {
            inFlightJobs.add(text(inFlight.get(i).job()));
            if (i % 2 == 0) {
                completions.merge(text(inFlight.get(i).job()), 1, Integer::sum);
            }
        }
        kill(first);

        JobQueue second = open();
        boolean waited = false;
        for (int round = 0; round < 1000 && completions.size() < total; round++) {
            List<Lease> batch = second.take(20);
            if (batch.isEmpty()) {
                assertThat(waited).as("jobs missing after the dead worker's leases expired").isFalse();
                passLease();
                waited = true;
                continue;
            }
            for (Lease l : batch) {
                completions.merge(text(l.job()), 1, Integer::sum);
                assertThat(second.ack(l)).isTrue();
            }
        }
        assertThat(completions).hasSize(total);
        completions.forEach((job, n) -> {
            if (n > 1) {
                assertThat(inFlightJobs).as("duplicate of " + job).contains(job);
            }
        });
        assertThat(second.take(10)).isEmpty();
        assertThat(second.depth(Priority.NORMAL)).isZero();
    }
}

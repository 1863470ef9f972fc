package dev.sluice.hazelcast;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.flakeidgen.FlakeIdGenerator;
import com.hazelcast.map.IMap;
import com.hazelcast.map.MapInterceptor;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Ticker;
import dev.sluice.api.queue.Job;
import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Lease;
import dev.sluice.api.queue.Priority;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What only the Hazelcast queue has to show: a member's loss loses no job, acked or not; an idempotent enqueue whose
 * write failed can be retried.
 */
class HazelcastJobQueueTest {

    private static List<HazelcastInstance> cluster;

    @BeforeAll
    static void startCluster() {
        cluster = Members.start(2);
    }

    @AfterAll
    static void stopCluster() {
        cluster.forEach(HazelcastInstance::shutdown);
    }

    /**
     * Fails the next {@link #PUTS} puts and {@link #GETS} gets of the maps it intercepts, as a write or read lost to a
     * member or a network failure would.
     */
    static final class Failing implements MapInterceptor {
        private static final long serialVersionUID = 1L;
        static final AtomicInteger PUTS = new AtomicInteger();
        static final AtomicInteger GETS = new AtomicInteger();

        private static void failIfArmed(AtomicInteger left) {
            if (left.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                throw new IllegalStateException("injected failure");
            }
        }

        @Override
        public Object interceptPut(Object oldValue, Object newValue) {
            failIfArmed(PUTS);
            return newValue;
        }

        @Override
        public @Nullable Object interceptGet(Object value) {
            failIfArmed(GETS);
            return null;
        }

        @Override
        public void afterGet(Object value) {
        }

        @Override
        public void afterPut(Object value) {
        }

        @Override
        public @Nullable Object interceptRemove(Object removedValue) {
            return null;
        }

        @Override
        public void afterRemove(Object oldValue) {
        }
    }

    @Test
    @Timeout(60)
    @DisplayName("an idempotent enqueue whose job write failed leaves its key unclaimed: the retry enqueues the job")
    void failedIdempotentWriteCanBeRetried() {
        ManualTicker ticker = new ManualTicker();
        HazelcastJobQueue producer = HazelcastJobQueue.builder(cluster.get(0), "idem-write").ticker(ticker).build();
        HazelcastJobQueue worker = HazelcastJobQueue.builder(cluster.get(1), "idem-write").ticker(ticker).build();
        cluster.get(0).getMap("idem-write").addInterceptor(new Failing());
        JobRequest r = JobRequest.builder(new byte[] {7}).tenant("t").idempotencyKey("retried").build();
        Failing.PUTS.set(1);
        assertThatThrownBy(() -> producer.enqueue(r)).hasMessageContaining("injected failure");
        assertThat(Failing.PUTS).hasValue(0);
        String id = producer.enqueue(r);
        assertThat(producer.enqueue(r)).isEqualTo(id);
        assertThat(worker.depth(Priority.NORMAL)).isEqualTo(1);
        List<Lease> taken = worker.take(Priority.NORMAL, "t", 10);
        assertThat(taken).hasSize(1);
        assertThat(taken.get(0).job().id()).isEqualTo(id);
        assertThat(worker.ack(taken.get(0))).isTrue();
        assertThat(producer.enqueue(r)).isEqualTo(id);
        assertThat(worker.take(Priority.NORMAL, "t", 10)).isEmpty();
    }

    @Test
    @Timeout(60)
    @DisplayName("a job left hidden by a producer that failed before claiming its key expires; a published job does not")
    void hiddenLeftoversExpire() throws Exception {
        HazelcastJobQueue q = HazelcastJobQueue.builder(cluster.get(0), "idem-expire").hiddenTtl(Duration.ofSeconds(1))
                .build();
        String published = q.enqueue(JobRequest.builder(new byte[] {1}).tenant("t").idempotencyKey("kept").build());
        cluster.get(0).getMap("idem-expire-idem").addInterceptor(new Failing());
        Failing.PUTS.set(1); // the claim fails,
        Failing.GETS.set(1); // then so does the check before deleting the hidden job
        JobRequest r = JobRequest.builder(new byte[] {2}).tenant("t").idempotencyKey("lost").build();
        assertThatThrownBy(() -> q.enqueue(r)).hasMessageContaining("injected failure");
        IMap<String, QueuedJob> jobs = cluster.get(1).getMap("idem-expire");
        assertThat(jobs.keySet()).hasSize(2).contains(published);
        for (int i = 0; i < 300 && jobs.keySet().size() > 1; i++) {
            Thread.sleep(100); // Hazelcast expires entries on access and in the background
        }
        assertThat(jobs.keySet()).containsExactly(published);
        assertThat(q.take(Priority.NORMAL, "t", 10)).extracting(l -> l.job().id()).containsExactly(published);
    }

    @Test
    @Timeout(60)
    @DisplayName("a lane is first in, first out across producers, though each member reserves its ids in batches")
    void fifoAcrossProducers() {
        ManualTicker ticker = new ManualTicker();
        HazelcastJobQueue a = HazelcastJobQueue.builder(cluster.get(0), "fifo").ticker(ticker).build();
        HazelcastJobQueue b = HazelcastJobQueue.builder(cluster.get(1), "fifo").ticker(ticker).build();
        a.enqueue(JobRequest.builder(new byte[] {1}).tenant("t").build());
        // Member 0 now holds a batch of ids reserved at this millisecond; let member 1 reserve a later batch.
        long reservedAt = cluster.get(0).getFlakeIdGenerator("fifo").newId() >> 22;
        FlakeIdGenerator later = cluster.get(1).getFlakeIdGenerator("fifo");
        for (int i = 0; i < 10_000_000 && (later.newId() >> 22) <= reservedAt + 2; i++) {
            // ids of member 1's batches, until one is reserved after member 0's whole batch
        }
        ticker.advance(Duration.ofMillis(1));
        b.enqueue(JobRequest.builder(new byte[] {2}).tenant("t").build());
        ticker.advance(Duration.ofMillis(1));
        a.enqueue(JobRequest.builder(new byte[] {3}).tenant("t").build());
        assertThat(b.take(Priority.NORMAL, "t", 10)).extracting(l -> (int) l.job().payload()[0])
                .containsExactly(1, 2, 3);
    }

    @Test
    @Timeout(60)
    @DisplayName("dead letters are kept up to deadLetterLength: beyond it the oldest are dropped")
    void deadLettersAreBounded() {
        ManualTicker ticker = new ManualTicker();
        HazelcastJobQueue q = HazelcastJobQueue.builder(cluster.get(0), "dead-cap").ticker(ticker).maxDeliveries(1)
                .deadLetterLength(3).build();
        HazelcastJobQueue other = HazelcastJobQueue.builder(cluster.get(1), "dead-cap").ticker(ticker)
                .maxDeliveries(1).deadLetterLength(3).build();
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < 4; i++) {
                q.enqueue(JobRequest.builder(new byte[] {(byte) (round * 4 + i)}).tenant("t").build());
            }
            HazelcastJobQueue worker = round % 2 == 0 ? q : other;
            worker.take(Priority.NORMAL, "t", 10).forEach(worker::release);
            assertThat(worker.take(Priority.NORMAL, "t", 10)).isEmpty();
            List<Job> dead = q.deadLetters(100);
            assertThat(dead).extracting(j -> (int) j.payload()[0])
                    .containsExactly(round * 4 + 1, round * 4 + 2, round * 4 + 3);
            assertThat(cluster.get(1).<String, QueuedJob>getMap("dead-cap").size()).isEqualTo(3);
        }
        assertThat(q.depth(Priority.NORMAL)).isZero();
    }

    @Test
    @Timeout(60)
    @DisplayName("a producer that failed after claiming the key left its job hidden: the retry publishes it")
    void retryPublishesAHiddenJob() {
        ManualTicker ticker = new ManualTicker();
        HazelcastJobQueue q = HazelcastJobQueue.builder(cluster.get(0), "idem-hidden").ticker(ticker).build();
        // What a producer leaves behind when it fails between the claim and the publish.
        cluster.get(1).<String, QueuedJob>getMap("idem-hidden").set("0000000000000000042",
                new QueuedJob(Priority.NORMAL, "t", new byte[] {4}, JobRequest.NO_DEADLINE, "half", 0).hide());
        cluster.get(1).<String, String>getMap("idem-hidden-idem").set("half", "0000000000000000042");
        assertThat(q.depth(Priority.NORMAL)).isZero();
        assertThat(q.take(Priority.NORMAL, "t", 10)).isEmpty();
        JobRequest r = JobRequest.builder(new byte[] {4}).tenant("t").idempotencyKey("half").build();
        assertThat(q.enqueue(r)).isEqualTo("0000000000000000042");
        List<Lease> taken = q.take(Priority.NORMAL, "t", 10);
        assertThat(taken).extracting(l -> l.job().id()).containsExactly("0000000000000000042");
    }

    @Test
    @Timeout(60)
    @DisplayName("leases run on the members' clock: a handle whose own clock is an hour off neither takes a job leased"
            + " to another nor hides new and given-back jobs from the others")
    void leasesRunOnTheMembersClock() {
        long hour = Duration.ofHours(1).toNanos() / 1000;
        Ticker system = Ticker.system();
        HazelcastJobQueue onTime = HazelcastJobQueue.builder(cluster.get(0), "skew").build();
        HazelcastJobQueue ahead = HazelcastJobQueue.builder(cluster.get(1), "skew")
                .localClock(() -> system.nowMicros() + hour).build();
        HazelcastJobQueue behind = HazelcastJobQueue.builder(cluster.get(1), "skew")
                .localClock(() -> system.nowMicros() - hour).build();

        String first = ahead.enqueue(JobRequest.builder(new byte[] {1}).tenant("t").build());
        List<Lease> leased = behind.take(1);
        assertThat(leased).extracting(l -> l.job().id()).containsExactly(first);
        // its lease ends 30 s from now on the members' clock, whatever the clock of the handle that took it
        assertThat(ahead.take(1)).isEmpty();
        assertThat(onTime.take(1)).isEmpty();
        assertThat(behind.extend(leased.get(0))).isTrue();
        assertThat(behind.ack(leased.get(0))).isTrue();

        String second = onTime.enqueue(JobRequest.builder(new byte[] {2}).tenant("t").build());
        Lease early = ahead.take(1).get(0);
        assertThat(early.job().id()).isEqualTo(second);
        assertThat(ahead.release(early)).isTrue();
        Lease again = behind.take(1).get(0);
        assertThat(again.job().id()).isEqualTo(second);
        assertThat(again.job().deliveries()).isEqualTo(2);
        assertThat(ahead.take(1)).isEmpty();
        assertThat(behind.ack(again)).isTrue();
        assertThat(onTime.depth(Priority.NORMAL)).isZero();
    }

    @Test
    @Timeout(60)
    @DisplayName("a handle whose clock jumps an hour ahead finds a waiting job behind more leased ones than it looks at"
            + " first: it reads the members' time again (its last reading looks an hour old)")
    void aheadHandleFindsWaitingJobsBehindLeasedOnes() {
        AtomicLong skew = new AtomicLong();
        Ticker system = Ticker.system();
        HazelcastJobQueue onTime = HazelcastJobQueue.builder(cluster.get(0), "ahead").build();
        HazelcastJobQueue ahead = HazelcastJobQueue.builder(cluster.get(1), "ahead")
                .localClock(() -> system.nowMicros() + skew.get()).build();
        skew.set(Duration.ofHours(1).toNanos() / 1000); // after it read the members' time when built
        for (int i = 0; i < 5; i++) {
            onTime.enqueue(JobRequest.builder(new byte[] {(byte) i}).tenant("t").build());
        }
        assertThat(onTime.take(5)).hasSize(5);
        String waiting = onTime.enqueue(JobRequest.builder(new byte[] {9}).tenant("t").build());
        // in key order the five leased jobs come first, and to this handle's clock their leases are long over
        assertThat(ahead.take(1)).extracting(l -> l.job().id()).containsExactly(waiting);
    }

    @Test
    @Timeout(60)
    @DisplayName("a handle whose clock jumps an hour back sees an expired lease on time once a claim told it the"
            + " members' time")
    void laggingHandleSeesExpiredLeases() throws InterruptedException {
        AtomicLong skew = new AtomicLong();
        Ticker system = Ticker.system();
        HazelcastJobQueue behind = HazelcastJobQueue.builder(cluster.get(1), "behind")
                .leaseDuration(Duration.ofMillis(300)).localClock(() -> system.nowMicros() + skew.get()).build();
        skew.set(-Duration.ofHours(1).toNanos() / 1000); // after it read the members' time when built
        String id = behind.enqueue(JobRequest.builder(new byte[] {1}).tenant("t").build());
        assertThat(behind.take(1)).hasSize(1);
        List<Lease> again = List.of();
        for (int i = 0; i < 200 && again.isEmpty(); i++) {
            Thread.sleep(50);
            again = behind.take(1);
        }
        assertThat(again).extracting(l -> l.job().id()).containsExactly(id);
        assertThat(again.get(0).job().deliveries()).isEqualTo(2);
    }

    @Test
    @Timeout(60)
    @DisplayName("a handle built with its clock an hour behind, which never claimed, names the lane and takes the job"
            + " of another handle's expired lease on time")
    void newLaggingHandleSeesExpiredLeases() throws InterruptedException {
        long hour = Duration.ofHours(1).toNanos() / 1000;
        Ticker system = Ticker.system();
        HazelcastJobQueue worker = HazelcastJobQueue.builder(cluster.get(0), "lagging-new")
                .leaseDuration(Duration.ofMillis(300)).build();
        String id = worker.enqueue(JobRequest.builder(new byte[] {1}).tenant("t").build());
        assertThat(worker.take(1)).hasSize(1); // and the worker dies with it
        HazelcastJobQueue behind = HazelcastJobQueue.builder(cluster.get(1), "lagging-new")
                .leaseDuration(Duration.ofMillis(300)).localClock(() -> system.nowMicros() - hour).build();
        for (int i = 0; i < 200 && !behind.tenants(Priority.NORMAL).contains("t"); i++) {
            Thread.sleep(50);
        }
        assertThat(behind.tenants(Priority.NORMAL)).containsExactly("t");
        List<Lease> again = behind.take(1);
        assertThat(again).extracting(l -> l.job().id()).containsExactly(id);
        assertThat(again.get(0).job().deliveries()).isEqualTo(2);
    }

    @Test
    @Timeout(60)
    @DisplayName("on the members' clock a lease expires in real time: the job is delivered again and the late ack"
            + " is refused")
    void memberClockLeaseExpires() throws InterruptedException {
        HazelcastJobQueue a = HazelcastJobQueue.builder(cluster.get(0), "expiring")
                .leaseDuration(Duration.ofMillis(200)).build();
        HazelcastJobQueue b = HazelcastJobQueue.builder(cluster.get(1), "expiring")
                .leaseDuration(Duration.ofMillis(200)).build();
        String id = a.enqueue(JobRequest.builder(new byte[] {3}).tenant("t").build());
        Lease first = a.take(1).get(0);
        List<Lease> again = List.of();
        for (int i = 0; i < 200 && again.isEmpty(); i++) {
            Thread.sleep(50);
            again = b.take(1);
        }
        assertThat(again).extracting(l -> l.job().id()).containsExactly(id);
        assertThat(again.get(0).job().deliveries()).isEqualTo(2);
        assertThat(a.ack(first)).isFalse();
        assertThat(b.ack(again.get(0))).isTrue();
    }

    @Test
    @Timeout(120)
    @DisplayName("on the members' clock too, a member killed abruptly loses nothing: leases expire on the surviving"
            + " owners' clocks and every unacked job comes back once")
    void memberLossOnTheMembersClock() throws InterruptedException {
        List<HazelcastInstance> members = Members.start(3);
        try {
            HazelcastJobQueue producer = HazelcastJobQueue.builder(members.get(0), "survive-clock")
                    .leaseDuration(Duration.ofSeconds(1)).build();
            HazelcastJobQueue worker = HazelcastJobQueue.builder(members.get(1), "survive-clock")
                    .leaseDuration(Duration.ofSeconds(1)).build();
            for (int i = 0; i < 60; i++) {
                producer.enqueue(JobRequest.builder(new byte[] {(byte) i}).tenant("t").build());
            }
            List<Lease> taken = worker.take(20);
            assertThat(taken).hasSize(20);
            Set<String> acked = new HashSet<>();
            for (int i = 0; i < 5; i++) {
                assertThat(worker.ack(taken.get(i))).isTrue();
                acked.add(taken.get(i).job().id());
            }
            members.get(2).getLifecycleService().terminate();
            Set<String> rest = new HashSet<>();
            for (int round = 0; round < 300 && rest.size() < 55; round++) {
                List<Lease> got = producer.take(20);
                for (Lease l : got) {
                    assertThat(rest.add(l.job().id())).as("taken twice: %s", l.job().id()).isTrue();
                    assertThat(producer.ack(l)).isTrue();
                }
                if (got.isEmpty()) {
                    Thread.sleep(50); // the 15 leased ones come back when their leases expire
                }
            }
            assertThat(rest).hasSize(55).doesNotContainAnyElementsOf(acked);
            assertThat(producer.depth(Priority.NORMAL)).isZero();
        } finally {
            shutDownLiving(members);
        }
    }

    @Test
    @Timeout(120)
    @DisplayName("a member killed abruptly loses nothing: waiting and leased jobs survive on the backups, acked ones"
            + " stay gone")
    void memberLossLosesNothing() {
        List<HazelcastInstance> members = Members.start(3);
        try {
            ManualTicker ticker = new ManualTicker();
            HazelcastJobQueue producer = HazelcastJobQueue.builder(members.get(0), "survive").ticker(ticker)
                    .leaseDuration(Duration.ofSeconds(30)).build();
            HazelcastJobQueue worker = HazelcastJobQueue.builder(members.get(1), "survive").ticker(ticker)
                    .leaseDuration(Duration.ofSeconds(30)).build();
            for (int i = 0; i < 300; i++) {
                producer.enqueue(JobRequest.builder(new byte[] {(byte) i}).tenant("t" + (i % 3)).build());
            }
            List<Lease> taken = worker.take(50);
            assertThat(taken).hasSize(50);
            Set<String> acked = new HashSet<>();
            for (int i = 0; i < 20; i++) {
                assertThat(worker.ack(taken.get(i))).isTrue();
                acked.add(taken.get(i).job().id());
            }
            members.get(2).getLifecycleService().terminate();
            assertThat(producer.depth(Priority.NORMAL)).isEqualTo(280);
            // The 30 leased ones come back when their leases expire.
            ticker.advance(Duration.ofSeconds(31));
            Set<String> rest = new HashSet<>();
            for (int round = 0; round < 100 && rest.size() < 280; round++) {
                for (Lease l : producer.take(50)) {
                    assertThat(rest.add(l.job().id())).isTrue();
                    assertThat(producer.ack(l)).isTrue();
                }
            }
            assertThat(rest).hasSize(280).doesNotContainAnyElementsOf(acked);
            assertThat(producer.depth(Priority.NORMAL)).isZero();
        } finally {
            shutDownLiving(members);
        }
    }

    /** Shuts down the members not killed by the test. */
    private static void shutDownLiving(List<HazelcastInstance> members) {
        for (HazelcastInstance m : members) {
            if (m.getLifecycleService().isRunning()) {
                m.shutdown();
            }
        }
    }
}

package dev.sluice.hazelcast;

import static org.assertj.core.api.Assertions.assertThat;

import com.hazelcast.core.HazelcastInstance;
import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.testkit.PhasedLoad;
import dev.sluice.testkit.StallCheck;
import dev.sluice.testkit.WindowCheck;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What the Hazelcast backend adds to the kit: several members sharing one quota, and losing one of them. */
class HazelcastBackendTest {

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    @DisplayName("3 members x 4 threads on shared keys admit no more than the limit in any window; a member terminated mid-load loses nothing")
    void membersShareOneQuotaAndSurviveALoss() throws Exception {
        List<HazelcastInstance> members = Members.start(3);
        try {
            ManualTicker ticker = new ManualTicker(1_000_000_000_000L);
            Limit limit = Limit.of("requests", 20, Duration.ofSeconds(2), Algorithm.SLIDING_LOG);
            Policy policy = Policy.of(limit);
            SluiceLimiter[] limiters = new SluiceLimiter[3];
            for (int i = 0; i < 3; i++) {
                limiters[i] = SluiceLimiter.builder(HazelcastBackend.builder(members.get(i)).mapName("shared")
                        .ticker(ticker).timeout(Duration.ofSeconds(20)).build()).policy(policy).build();
            }
            String[] keys = {"shared-a", "shared-b", "shared-c"};
            Queue<Decision.Reason> odd = new ConcurrentLinkedQueue<>();
            int phases = 30;
            PhasedLoad.Worker worker = (thread, phase, random, recorder) -> {
                // After member 2 is gone (phase 15 on), its threads use member 0.
                SluiceLimiter l = limiters[phase >= 15 && thread % 3 == 2 ? 0 : thread % 3];
                for (int i = 0; i < 10; i++) {
                    int k = random.nextInt(keys.length);
                    Decision d = l.tryAcquire(keys[k], Cost.request());
                    if (d.granted()) {
                        recorder.granted(k, 1);
                    } else if (d.reason() != Decision.Reason.RATE_LIMITED) {
                        odd.add(d.reason());
                    }
                }
            };
            Random r = new Random(5);
            PhasedLoad.Result load = PhasedLoad.run(ticker, 12, phases, keys.length, worker, phase -> {
                if (phase == 14) {
                    members.get(2).getLifecycleService().terminate(); // between phases, as abrupt as it gets
                }
                return r.nextInt(400_000);
            }, null);
            for (int k = 0; k < keys.length; k++) {
                WindowCheck.assertWithinBound(limit, load.grants(k));
            }
            assertThat(odd).as("decisions not about quota (backend unavailable...)").isEmpty();
            assertThat(load.total()).isPositive();
        } finally {
            members.forEach(m -> m.getLifecycleService().terminate());
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    @DisplayName("Entries carry a TTL just past their rest: after 100,000 tenants and their idle time, the map is empty")
    void entriesExpire() throws Exception {
        List<HazelcastInstance> members = Members.start(2);
        try {
            HazelcastBackend backend = HazelcastBackend.builder(members.get(0)).mapName("expiry")
                    .timeout(Duration.ofSeconds(10)).build();
            Policy policy = Policy.of(Limit.of("requests", 5, Duration.ofMillis(100), Algorithm.TOKEN_BUCKET));
            int tenants = 100_000;
            int threads = 4;
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
            List<java.util.concurrent.Future<Integer>> parts = new java.util.ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int from = t;
                parts.add(pool.submit(() -> {
                    int granted = 0;
                    for (int i = from; i < tenants; i += threads) {
                        granted += backend.acquire("tenant-" + i, policy, Cost.request()).granted() ? 1 : 0;
                    }
                    return granted;
                }));
            }
            int granted = 0;
            for (java.util.concurrent.Future<Integer> f : parts) {
                granted += f.get(90, TimeUnit.SECONDS);
            }
            pool.shutdown();
            assertThat(granted).as("each tenant's first request").isEqualTo(tenants);
            com.hazelcast.map.IMap<String, byte[]> map = members.get(0).getMap("expiry");
            assertThat(map.size()).as("entries right after the load").isPositive();
            assertThat(backend.acquire("probe", policy, Cost.request()).granted()).isTrue();
            assertThat(map.getEntryView("probe").getTtl()).as("a TTL just past the rest").isBetween(1000L, 2000L);
            // Every entry's TTL ends about 1.1 s after its write; the members sweep expired entries every second
            // (Members sets the expiration task to run each second over all entries). Poll, bounded, for an empty map.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            int size;
            do {
                TimeUnit.MILLISECONDS.sleep(250);
                size = map.size();
            } while (size > 0 && System.nanoTime() < deadline);
            assertThat(size).as("entries left after their TTL").isZero();
        } finally {
            members.forEach(m -> m.getLifecycleService().terminate());
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    @DisplayName("One entry processor applies a batch in order, each request all or nothing, as the reference would one by one")
    void batchInOrder() {
        List<HazelcastInstance> members = Members.start(2);
        try {
            Policy policy = Policy.of(Limit.of("requests", 2, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET),
                    Limit.of("tokens", 100, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET));
            String spec = dev.sluice.core.engine.PolicyCodec.spec(policy);
            long now = 5_000_000_000L;
            Cost small = Cost.request().and("tokens", 10);
            Cost big = Cost.request().and("tokens", 95);
            LimiterProcessor batch = new LimiterProcessor(new boolean[] {true, true, false, true, true},
                    new String[] {spec, spec, spec, spec, spec}, new Cost[] {small, big, small, small, small}, now);
            long[] r = members.get(1).<String, byte[]>getMap("batch").executeOnKey("k", batch);
            int block = 5 + policy.size();
            assertThat(r).hasSize(5 * block);
            // granted, refused on tokens (nothing charged), refund of the first, then two grants
            assertThat(new long[] {r[0], r[block], r[3 * block], r[4 * block]}).containsExactly(1, 0, 1, 1);
            assertThat(r[block + 3]).as("bound by the tokens limit").isEqualTo(1);
            assertThat(r[2 * block + 1]).isEqualTo(Decision.Reason.REFUNDED.ordinal());
            assertThat(r[4 * block + 5]).as("requests left after the last").isZero();
            assertThat(r[4 * block + 6]).as("tokens left").isEqualTo(80);

            // the reference, one request at a time, agrees on every decision
            dev.sluice.core.engine.PolicyState st = null;
            Cost[] costs = {small, big, small, small, small};
            boolean[] acq = {true, true, false, true, true};
            for (int j = 0; j < 5; j++) {
                dev.sluice.core.engine.PolicyEngine.Result ref = acq[j]
                        ? dev.sluice.core.engine.PolicyEngine.acquire(policy, st, costs[j], now)
                        : dev.sluice.core.engine.PolicyEngine.refund(policy, st, costs[j], now);
                st = ref.state();
                assertThat(r[j * block]).isEqualTo(ref.decision().granted() ? 1 : 0);
                assertThat(r[j * block + 2]).isEqualTo(ref.decision().retryAfterMicros());
                assertThat(r[j * block + 5]).isEqualTo(ref.decision().remaining(0));
                assertThat(r[j * block + 6]).isEqualTo(ref.decision().remaining(1));
            }
        } finally {
            members.forEach(m -> m.getLifecycleService().terminate());
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    @DisplayName("Acquires that time out while the key's partition is busy are not sent later: they charge nothing")
    void timedOutAcquiresChargeNothing() throws Exception {
        List<HazelcastInstance> members = Members.start(1);
        try {
            HazelcastBackend backend = HazelcastBackend.builder(members.get(0)).mapName("stall")
                    .timeout(Duration.ofMillis(100)).build();
            Policy policy = Policy.of(Limit.of("requests", 1000, Duration.ofHours(1), Algorithm.TOKEN_BUCKET));
            assertThat(backend.acquire("k", policy, Cost.request()).granted()).isTrue();

            // Another processor holds the key's partition thread for 3 s: the backend's calls wait behind it.
            java.util.concurrent.CompletionStage<Object> stall = members.get(0).<String, byte[]>getMap("stall")
                    .submitToKey("k", new Sleep(3_000));
            StallCheck check = StallCheck.callDuringStall(8, 5, () -> backend.acquire("k", policy, Cost.request()));
            stall.toCompletableFuture().get(30, TimeUnit.SECONDS);
            check.assertChargedAtMost(1000, 1, () -> backend.acquire("k", policy, Cost.request()));
        } finally {
            members.forEach(m -> m.getLifecycleService().terminate());
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    @DisplayName("A refund of what the failure policy granted while the cluster was busy does not reach the cluster")
    void refundOfADegradedGrantStaysOffTheCluster() throws Exception {
        List<HazelcastInstance> members = Members.start(1);
        try {
            HazelcastBackend backend = HazelcastBackend.builder(members.get(0)).mapName("degraded")
                    .timeout(Duration.ofMillis(100)).outage(dev.sluice.core.OutageDecisions.failOpen()).build();
            Policy policy = Policy.of(Limit.of("tokens", 1000, Duration.ofHours(1), Algorithm.TOKEN_BUCKET));
            for (int i = 0; i < 100; i++) { // a new member's first calls can outlast 100 ms
                long d = backend.degradedDecisions();
                backend.acquire("warm-up", policy, Cost.tokens(1));
                if (backend.degradedDecisions() == d) {
                    break;
                }
            }
            assertThat(backend.acquire("k", policy, Cost.tokens(100)).remaining(0)).isEqualTo(900);

            java.util.concurrent.CompletionStage<Object> stall = members.get(0).<String, byte[]>getMap("degraded")
                    .submitToKey("k", new Sleep(2_000));
            // One call is sent and waits behind the stall (the cluster charges it later); the next queues behind it,
            // times out, is granted by the failure policy, and is never sent.
            long before = backend.degradedDecisions();
            Thread first = new Thread(() -> backend.acquire("k", policy, Cost.tokens(1)));
            first.start();
            while (backend.lanesInUse() == 0) { // the first call is on its way
                Thread.onSpinWait();
            }
            // and sent: its thread waits for the answer (a preempted one could still let the next call join it)
            for (int i = 0; i < 1000 && first.getState() != Thread.State.TIMED_WAITING; i++) {
                TimeUnit.MILLISECONDS.sleep(1);
            }
            TimeUnit.MILLISECONDS.sleep(10);
            assertThat(backend.acquire("k", policy, Cost.tokens(500)).granted()).isTrue();
            first.join();
            assertThat(backend.degradedDecisions()).as("both decided without the cluster").isEqualTo(before + 2);
            stall.toCompletableFuture().get(30, TimeUnit.SECONDS);

            backend.refund("k", policy, Cost.tokens(500)); // the caller used none of it
            long degradedBefore = backend.degradedDecisions();
            Decision probe = backend.acquire("k", policy, Cost.tokens(1));
            assertThat(backend.degradedDecisions()).as("the cluster answers again").isEqualTo(degradedBefore);
            // 100 charged before, 1 for the call sent during the stall, 1 now: crediting the cluster with the 500 it
            // never charged would have filled the bucket again.
            assertThat(probe.remaining(0)).isBetween(1000L - 100 - 2, 1000L - 100 - 1);
        } finally {
            members.forEach(m -> m.getLifecycleService().terminate());
        }
    }

    /** An entry processor that only holds its partition thread. */
    private record Sleep(long millis) implements com.hazelcast.map.EntryProcessor<String, byte[], Object> {
        @Override
        public Object process(java.util.Map.Entry<String, byte[]> entry) {
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return null;
        }

        @Override
        public com.hazelcast.map.EntryProcessor<String, byte[], Object> getBackupProcessor() {
            return null;
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    @DisplayName("16 threads on one key share entry processors, grant exactly the capacity, and leave no lane behind")
    void concurrentCallsShareProcessors() throws Exception {
        List<HazelcastInstance> members = Members.start(2);
        try {
            HazelcastBackend backend = HazelcastBackend.builder(members.get(0)).mapName("lanes")
                    .timeout(Duration.ofSeconds(20)).build();
            // 3000 per 30 days: a token comes back every 864 s, so a slow run cannot refill one before the last check
            Policy policy = Policy.of(Limit.of("requests", 3000, Duration.ofDays(30), Algorithm.TOKEN_BUCKET));
            java.util.concurrent.atomic.AtomicInteger granted = new java.util.concurrent.atomic.AtomicInteger();
            java.util.concurrent.atomic.AtomicInteger other = new java.util.concurrent.atomic.AtomicInteger();
            Thread[] threads = new Thread[16];
            for (int t = 0; t < threads.length; t++) {
                String key = t % 4 == 0 ? "other-" + t : "hot";
                threads[t] = new Thread(() -> {
                    for (int i = 0; i < 250; i++) {
                        Decision d = backend.acquire(key, policy, Cost.request());
                        if (d.granted() && key.equals("hot")) {
                            granted.incrementAndGet();
                        } else if (!d.granted() && d.reason() != Decision.Reason.RATE_LIMITED) {
                            other.incrementAndGet();
                        }
                    }
                });
                threads[t].start();
            }
            for (Thread t : threads) {
                t.join();
            }
            assertThat(other.get()).as("decisions not about quota").isZero();
            assertThat(granted.get()).as("12 threads x 250 on the hot key, capacity 3000").isEqualTo(3000);
            assertThat(backend.acquire("hot", policy, Cost.request()).granted()).isFalse();
            // the last lane is dropped right after its caller's answer: give that a moment
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (backend.lanesInUse() > 0 && System.nanoTime() < until) {
                Thread.sleep(10);
            }
            assertThat(backend.lanesInUse()).as("lanes exist only while a key has calls").isZero();
            assertThat(backend.degradedDecisions()).isZero();
        } finally {
            members.forEach(m -> m.getLifecycleService().terminate());
        }
    }
}

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
}

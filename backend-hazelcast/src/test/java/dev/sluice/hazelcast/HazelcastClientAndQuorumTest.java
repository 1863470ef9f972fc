package dev.sluice.hazelcast;

import static org.assertj.core.api.Assertions.assertThat;

import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.config.SplitBrainProtectionConfig;
import com.hazelcast.core.HazelcastInstance;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.core.OutageDecisions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Hazelcast clients share the members' quota; below a minimum cluster size, the failure policy decides. */
class HazelcastClientAndQuorumTest {

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    @DisplayName("Two Hazelcast clients and a member share one quota (the processors run on the members)")
    void clientsShareTheQuota() {
        List<HazelcastInstance> members = Members.start(2);
        HazelcastInstance[] clients = new HazelcastInstance[2];
        try {
            for (int i = 0; i < 2; i++) {
                ClientConfig config = new ClientConfig();
                config.setClusterName(members.get(0).getConfig().getClusterName());
                config.setProperty("hazelcast.logging.type", "none");
                config.getNetworkConfig().addAddress(
                        "127.0.0.1:" + members.get(0).getCluster().getLocalMember().getAddress().getPort());
                clients[i] = HazelcastClient.newHazelcastClient(config);
            }
            Policy policy = Policy.of(Limit.perMinute("requests", 9));
            // The default 500 ms timeout is for production; a shared machine just after the cluster formed can be
            // slower than that on the first calls, and this test is about sharing, not about outages.
            Duration timeout = Duration.ofSeconds(20);
            HazelcastBackend[] backends = {HazelcastBackend.builder(clients[0]).timeout(timeout).build(),
                HazelcastBackend.builder(clients[1]).timeout(timeout).build(),
                HazelcastBackend.builder(members.get(1)).timeout(timeout).build()};
            int granted = 0;
            for (int i = 0; i < 30; i++) {
                Decision d = backends[i % 3].acquire("shared", policy, Cost.request());
                assertThat(d.reason()).isIn(Decision.Reason.GRANTED, Decision.Reason.RATE_LIMITED);
                granted += d.granted() ? 1 : 0;
            }
            assertThat(granted).isEqualTo(9);
        } finally {
            for (HazelcastInstance c : clients) {
                if (c != null) {
                    c.shutdown();
                }
            }
            members.forEach(m -> m.getLifecycleService().terminate());
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    @DisplayName("With a minimum cluster size of 2, the last member alone fails closed instead of counting afresh")
    void lastMemberAloneFollowsTheFailurePolicy() throws Exception {
        List<HazelcastInstance> members = Members.start(2, config -> {
            config.addSplitBrainProtectionConfig(new SplitBrainProtectionConfig("two", true, 2));
            config.getMapConfig("*").setSplitBrainProtectionName("two");
        });
        try {
            Policy policy = Policy.of(Limit.perMinute("requests", 5));
            HazelcastBackend backend = HazelcastBackend.builder(members.get(0)).timeout(Duration.ofSeconds(5))
                    .outage(OutageDecisions.failClosed(1_000_000)).build();
            for (int i = 0; i < 5; i++) {
                assertThat(backend.acquire("k", policy, Cost.request()).granted()).isTrue();
            }
            members.get(1).getLifecycleService().terminate();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            Decision d;
            do {
                d = backend.acquire("k", policy, Cost.request());
                assertThat(d.granted()).as("never a fresh counter on the lone member").isFalse();
                if (d.reason() == Decision.Reason.BACKEND_UNAVAILABLE) {
                    break;
                }
                TimeUnit.MILLISECONDS.sleep(100);
            } while (System.nanoTime() < deadline);
            assertThat(d.reason()).isEqualTo(Decision.Reason.BACKEND_UNAVAILABLE);
            assertThat(backend.degradedDecisions()).isPositive();
        } finally {
            members.forEach(m -> m.getLifecycleService().terminate());
        }
    }

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    @DisplayName("3 Hazelcast clients x 4 threads on shared keys admit no more than the limit in any window")
    void clientsTimesThreadsStayWithinTheLimit() throws Exception {
        List<HazelcastInstance> members = Members.start(2);
        HazelcastInstance[] clients = new HazelcastInstance[3];
        try {
            for (int i = 0; i < clients.length; i++) {
                ClientConfig config = new ClientConfig();
                config.setClusterName(members.get(0).getConfig().getClusterName());
                config.setProperty("hazelcast.logging.type", "none");
                config.getNetworkConfig().addAddress(
                        "127.0.0.1:" + members.get(i % 2).getCluster().getLocalMember().getAddress().getPort());
                clients[i] = HazelcastClient.newHazelcastClient(config);
            }
            dev.sluice.api.ManualTicker ticker = new dev.sluice.api.ManualTicker(1_000_000_000_000L);
            Limit limit = Limit.of("requests", 15, Duration.ofSeconds(2), dev.sluice.api.Algorithm.SLIDING_LOG);
            dev.sluice.core.SluiceLimiter[] limiters = new dev.sluice.core.SluiceLimiter[clients.length];
            for (int i = 0; i < clients.length; i++) {
                limiters[i] = dev.sluice.core.SluiceLimiter.builder(HazelcastBackend.builder(clients[i])
                        .mapName("clients").ticker(ticker).timeout(Duration.ofSeconds(20)).build())
                        .policy(Policy.of(limit)).build();
            }
            String[] keys = {"shared-a", "shared-b"};
            java.util.Random r = new java.util.Random(11);
            dev.sluice.testkit.PhasedLoad.Result load = dev.sluice.testkit.PhasedLoad.run(ticker, 12, 25,
                    keys.length, (thread, phase, random, recorder) -> {
                        for (int i = 0; i < 8; i++) {
                            int k = random.nextInt(keys.length);
                            if (limiters[thread % clients.length].tryAcquire(keys[k], Cost.request()).granted()) {
                                recorder.granted(k, 1);
                            }
                        }
                    }, phase -> r.nextInt(400_000), null);
            for (int k = 0; k < keys.length; k++) {
                dev.sluice.testkit.WindowCheck.assertWithinBound(limit, load.grants(k));
            }
            assertThat(load.total()).isPositive();
        } finally {
            for (HazelcastInstance c : clients) {
                if (c != null) {
                    c.shutdown();
                }
            }
            members.forEach(m -> m.getLifecycleService().terminate());
        }
    }
}

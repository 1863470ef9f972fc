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
            HazelcastBackend[] backends = {HazelcastBackend.builder(clients[0]).build(),
                HazelcastBackend.builder(clients[1]).build(), HazelcastBackend.builder(members.get(1)).build()};
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
}

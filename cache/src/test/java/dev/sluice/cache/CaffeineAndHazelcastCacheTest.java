package dev.sluice.cache;

import static dev.sluice.cache.Fixtures.answer;
import static dev.sluice.cache.Fixtures.chat;
import static org.assertj.core.api.Assertions.assertThat;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.hazelcast.HazelcastCacheStore;
import dev.sluice.memory.MemoryCacheStore;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The cache on the Caffeine and Hazelcast stores: nothing stored holds the caller's credential, and instances on
 * different members of one 2-member cluster share one upstream call.
 */
class CaffeineAndHazelcastCacheTest {

    private static List<HazelcastInstance> members;

    @BeforeAll
    static void startCluster() {
        members = startMembers(2);
    }

    @AfterAll
    static void stopCluster() {
        members.forEach(HazelcastInstance::shutdown);
    }

    private static final String CANARY = "sk-canary-" + UUID.randomUUID() + "-do-not-store";

    private static void exercise(CacheStore store) throws Exception {
        ResponseCache c = ResponseCache.builder(store).nearCache(1 << 20, java.time.Duration.ofSeconds(5)).build();
        for (int i = 0; i < 20; i++) {
            LlmResponse a = answer("answer " + i);
            c.call(chat(CANARY, "question " + i, 0), () -> a);
            c.call(chat(CANARY, "question " + i, 0), () -> a);
            c.callAsync(chat(CANARY, "async " + i, 0), () -> CompletableFuture.completedFuture(answer("a")))
                    .toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    private static void assertClean(Map<String, byte[]> entries) {
        assertThat(entries).hasSizeGreaterThanOrEqualTo(40);
        for (Map.Entry<String, byte[]> e : entries.entrySet()) {
            assertThat(e.getKey()).doesNotContain(CANARY).doesNotContain("canary");
            assertThat(SharedRedisCacheTest.contains(e.getValue(), CANARY.getBytes(StandardCharsets.UTF_8))).isFalse();
            assertThat(SharedRedisCacheTest.contains(e.getValue(), CANARY.getBytes(StandardCharsets.UTF_16BE)))
                    .isFalse();
            assertThat(new String(e.getValue(), StandardCharsets.ISO_8859_1)).doesNotContain("canary");
        }
    }

    @Test
    void caffeineHoldsNoCredential() throws Exception {
        MemoryCacheStore store = MemoryCacheStore.builder().build();
        exercise(store);
        assertClean(store.snapshot());
    }

    @Test
    void hazelcastHoldsNoCredential() throws Exception {
        HazelcastCacheStore store = HazelcastCacheStore.builder(members.get(0)).mapName("canary").build();
        exercise(store);
        Map<String, byte[]> entries = new java.util.HashMap<>();
        HazelcastCacheStore.builder(members.get(1)).mapName("canary").build().map().forEach(entries::put);
        assertClean(entries);
    }

    @Test
    void sixtyFourConcurrentIdenticalColdRequestsOnTwoMembersMakeOneUpstreamCall() throws Exception {
        List<ResponseCache> caches = List.of(
                ResponseCache.builder(HazelcastCacheStore.builder(members.get(0)).mapName("flight").build()).build(),
                ResponseCache.builder(HazelcastCacheStore.builder(members.get(1)).mapName("flight").build()).build());
        Fixtures.CountingUpstream upstream = new Fixtures.CountingUpstream(answer("one"), 300);
        List<CacheAnswer> answers = Fixtures.concurrently(64, i -> caches.get(i % 2).call(chat("cold"), upstream));
        assertThat(upstream.calls).hasValue(1);
        assertThat(answers).allSatisfy(a -> assertThat(a.response()).isEqualTo(answer("one")));
    }

    /** Real members in this JVM: loopback only, TCP-IP join on free ports, no multicast. */
    static List<HazelcastInstance> startMembers(int count) {
        String cluster = "sluice-cache-" + UUID.randomUUID();
        int[] ports = new int[count];
        for (int i = 0; i < count; i++) {
            ports[i] = dev.sluice.testkit.LoopbackPorts.pick();
        }
        List<HazelcastInstance> members = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Config config = new Config();
            config.setClusterName(cluster);
            config.setProperty("hazelcast.phone.home.enabled", "false");
            config.setProperty("hazelcast.logging.type", "none");
            NetworkConfig network = config.getNetworkConfig();
            network.setPort(ports[i]).setPortAutoIncrement(false);
            network.getInterfaces().setEnabled(true).addInterface("127.0.0.1");
            JoinConfig join = network.getJoin();
            join.getMulticastConfig().setEnabled(false);
            join.getAutoDetectionConfig().setEnabled(false);
            join.getTcpIpConfig().setEnabled(true);
            for (int port : ports) {
                join.getTcpIpConfig().addMember("127.0.0.1:" + port);
            }
            members.add(Hazelcast.newHazelcastInstance(config));
        }
        return members;
    }
}

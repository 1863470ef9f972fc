package dev.sluice.hazelcast;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.core.HazelcastInstance;
import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.core.SluiceLimiter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Token-bucket policies on Bucket4j's Hazelcast engine, behind Sluice's API, on 2 real members and a client. */
class Bucket4jHazelcastBackendTest {

    private static final AtomicInteger MAPS = new AtomicInteger();
    private static List<HazelcastInstance> members;
    private static HazelcastInstance client;

    @BeforeAll
    static void startCluster() {
        members = Members.start(2, c -> Bucket4jHazelcastBackend.registerSerializers(c.getSerializationConfig()));
        ClientConfig config = new ClientConfig();
        config.setClusterName(members.get(0).getConfig().getClusterName());
        config.setProperty("hazelcast.logging.type", "none");
        config.getNetworkConfig().addAddress(
                "127.0.0.1:" + members.get(0).getCluster().getLocalMember().getAddress().getPort());
        Bucket4jHazelcastBackend.registerSerializers(config.getSerializationConfig());
        client = HazelcastClient.newHazelcastClient(config);
    }

    @AfterAll
    static void stopCluster() {
        client.shutdown();
        members.forEach(m -> m.getLifecycleService().terminate());
    }

    private final ManualTicker ticker = new ManualTicker(1_000_000_000_000L);
    private final String map = "b4j-" + MAPS.incrementAndGet();

    private SluiceLimiter limiter(HazelcastInstance instance, Policy policy) {
        return SluiceLimiter.builder(Bucket4jHazelcastBackend.create(instance, map, ticker)).policy(policy).build();
    }

    @Test
    @DisplayName("10/s from a client: 10 grants, then a wait of 100 ms (+1 µs rounding), then a grant")
    void burstThenRefill() {
        Limit limit = Limit.perSecond("requests", 10);
        SluiceLimiter l = limiter(client, Policy.of(limit));
        for (int i = 0; i < 10; i++) {
            assertThat(l.tryAcquire("k", Cost.request()).remaining(limit)).isEqualTo(9 - i);
        }
        Decision d = l.tryAcquire("k", Cost.request());
        assertThat(d.reason()).isEqualTo(Decision.Reason.RATE_LIMITED);
        assertThat(d.retryAfterMicros()).isBetween(100_000L, 100_001L);
        ticker.advanceMicros(d.retryAfterMicros() - 2);
        assertThat(l.tryAcquire("k", Cost.request()).granted()).isFalse();
        ticker.advanceMicros(2);
        assertThat(l.tryAcquire("k", Cost.request()).granted()).isTrue();
    }

    @Test
    @DisplayName("A client and a member share one bucket per limit; keys with separators do not collide")
    void instancesShareBuckets() {
        Policy policy = Policy.of(Limit.perMinute("requests", 6));
        SluiceLimiter a = limiter(client, policy);
        SluiceLimiter b = limiter(members.get(1), policy);
        int granted = 0;
        for (int i = 0; i < 10; i++) {
            granted += (i % 2 == 0 ? a : b).tryAcquire("shared", Cost.request()).granted() ? 1 : 0;
        }
        assertThat(granted).isEqualTo(6);
        assertThat(a.tryAcquire("shared:6:requests", Cost.request()).granted()).isTrue();
        assertThat(a.tryAcquire("{odd key}\n\u00e9", Cost.request()).granted()).isTrue();
    }

    @Test
    @DisplayName("Several limits: a refusal by one gives the others their tokens back")
    void allOrNothing() {
        Limit requests = Limit.perMinute("requests", 10);
        Limit tokens = Limit.perMinute("tokens", 1_000);
        SluiceLimiter l = limiter(client, Policy.of(requests, tokens));
        assertThat(l.tryAcquire("t", Cost.request().and("tokens", 995)).granted()).isTrue();
        Decision denied = l.tryAcquire("t", Cost.request().and("tokens", 10));
        assertThat(denied.granted()).isFalse();
        assertThat(denied.boundBy()).isEqualTo(tokens);
        assertThat(denied.remaining(requests)).as("the request given back").isEqualTo(9);
        Decision next = l.tryAcquire("t", Cost.request().and("tokens", 5));
        assertThat(next.granted()).isTrue();
        assertThat(next.remaining(requests)).isEqualTo(8);
        assertThat(next.remaining(tokens)).isZero();
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    @DisplayName("8 threads on a client and a member: exactly the bucket's 50 tokens are admitted, no more")
    void concurrentCallersNeverExceed() throws Exception {
        Policy policy = Policy.of(Limit.of("requests", 50, Duration.ofHours(1), Algorithm.TOKEN_BUCKET));
        SluiceLimiter[] limiters = {limiter(client, policy), limiter(members.get(0), policy)};
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<Integer>> parts = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                SluiceLimiter l = limiters[t % 2];
                parts.add(pool.submit(() -> {
                    int granted = 0;
                    for (int i = 0; i < 25; i++) {
                        granted += l.tryAcquire("hot", Cost.request()).granted() ? 1 : 0;
                    }
                    return granted;
                }));
            }
            int granted = 0;
            for (Future<Integer> f : parts) {
                granted += f.get(50, TimeUnit.SECONDS);
            }
            assertThat(granted).isEqualTo(50);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    @DisplayName("Only token-bucket policies; a bad map name is refused with the name")
    void badInput() {
        Policy gcra = Policy.of(Limit.perMinute("requests", 5).withAlgorithm(Algorithm.GCRA));
        Bucket4jHazelcastBackend backend = Bucket4jHazelcastBackend.create(client, map, ticker);
        assertThatThrownBy(() -> backend.acquire("k", gcra, Cost.request()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("GCRA");
        assertThatThrownBy(() -> Bucket4jHazelcastBackend.create(client, "no spaces"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no spaces");
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    @DisplayName("Buckets expire once they could have refilled: the map empties after its keys go idle")
    void bucketsExpire() throws Exception {
        Bucket4jHazelcastBackend backend = Bucket4jHazelcastBackend.create(client, map); // the real clock
        Policy policy = Policy.of(Limit.of("requests", 5, Duration.ofMillis(100), Algorithm.TOKEN_BUCKET));
        for (int i = 0; i < 1_000; i++) {
            assertThat(backend.acquire("tenant-" + i, policy, Cost.request()).granted()).isTrue();
        }
        assertThat(backend.liveKeys()).as("entries right after the load (the first may have expired)").isPositive();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        long left;
        do {
            TimeUnit.MILLISECONDS.sleep(250);
            left = backend.liveKeys();
        } while (left > 0 && System.nanoTime() < deadline);
        assertThat(left).as("bucket entries left after their idle time").isZero();
    }
}

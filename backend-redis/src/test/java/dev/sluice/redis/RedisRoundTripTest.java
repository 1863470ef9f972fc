package dev.sluice.redis;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Cost;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.testkit.redis.RedisExtension;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.redisson.api.RedissonClient;
import org.redisson.api.redisnode.RedisNode;
import org.redisson.api.redisnode.RedisNodes;

/** One round trip per acquire and per refund, counted by Redis itself ({@code INFO}). */
class RedisRoundTripTest {

    @RegisterExtension
    static final RedisExtension REDIS = new RedisExtension();

    private static RedissonClient client;

    @BeforeAll
    static void connect() {
        client = Clients.connect(REDIS.endpoint());
    }

    @AfterAll
    static void disconnect() {
        client.shutdown();
    }

    /** Calls per command since the server started, from {@code INFO commandstats}. */
    private static Map<String, Long> calls() {
        Map<String, Long> calls = new TreeMap<>();
        client.getRedisNodes(RedisNodes.SINGLE).getInstance().info(RedisNode.InfoSection.COMMANDSTATS)
                .forEach((k, v) -> calls.put(k.replace("cmdstat_", ""),
                        Long.parseLong(v.substring(v.indexOf("calls=") + 6, v.indexOf(',')))));
        return calls;
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "through {0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"fcall", "evalsha"})
    @DisplayName("1,000 acquires and 1,000 refunds of a three-limit policy are 2,000 script calls and nothing else")
    void oneRoundTripEach(String command) {
        RedisBackend backend = RedisBackend.builder(client).namespace("rt-" + command)
                .redisFunctions(command.equals("fcall")).build();
        Policy policy = Policy.of(Limit.perMinute("requests", 100_000), Limit.perMinute("tokens", 1_000_000),
                Limit.perDay("requests", 100_000));
        Cost call = Cost.request().and("tokens", 10);
        backend.acquire("warm-up", policy, call); // loads the script if needed
        Map<String, Long> before = calls();
        for (int i = 0; i < 1000; i++) {
            backend.acquire("tenant-" + (i % 10), policy, call);
            backend.refund("tenant-" + (i % 10), policy, Cost.tokens(5));
        }
        Map<String, Long> after = calls();
        Map<String, Long> delta = new TreeMap<>();
        after.forEach((k, v) -> {
            long d = v - before.getOrDefault(k, 0L);
            if (d > 0) {
                delta.put(k, d);
            }
        });
        assertThat(delta.get(command)).isEqualTo(2000);
        assertThat(delta.get("hgetall")).as("one state read per script call, inside it").isEqualTo(2000);
        // Redis counts the commands a script runs; the only command a client sent is the script call (and INFO).
        assertThat(delta.keySet()).isSubsetOf(command, "info", "hgetall", "time", "del", "hdel", "hset", "pexpire",
                "ping");
        assertThat(backend.degradedDecisions()).isZero();
    }

    @Test
    @DisplayName("16 threads on one key share script calls (smart batching) and are granted exactly the capacity")
    void concurrentCallsShareRoundTrips() throws Exception {
        RedisBackend backend = RedisBackend.builder(client).namespace("batch").build();
        // a 30-day window: the run is very unlikely to straddle a window boundary (an hour's had a 1-in-1000 chance)
        Policy policy = Policy.of(Limit.of("requests", 3000, java.time.Duration.ofDays(30),
                dev.sluice.api.Algorithm.FIXED_WINDOW));
        long evalshaBefore = calls().getOrDefault("fcall", 0L);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(16);
        java.util.concurrent.atomic.AtomicLong granted = new java.util.concurrent.atomic.AtomicLong();
        try {
            java.util.List<java.util.concurrent.Future<?>> all = new java.util.ArrayList<>();
            for (int t = 0; t < 16; t++) {
                all.add(pool.submit(() -> {
                    for (int i = 0; i < 500; i++) {
                        if (backend.acquire("hot", policy, Cost.request()).granted()) {
                            granted.incrementAndGet();
                        }
                    }
                    return null;
                }));
            }
            for (java.util.concurrent.Future<?> f : all) {
                f.get(60, java.util.concurrent.TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        long evalsha = calls().get("fcall") - evalshaBefore;
        assertThat(granted.get()).isEqualTo(3000);
        assertThat(backend.degradedDecisions()).isZero();
        assertThat(evalsha).as("8,000 acquires in fewer script calls").isLessThan(8000);
        System.out.printf("8000 acquires from 16 threads took %d FCALL%n", evalsha);
    }
}

package dev.sluice.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.testkit.ReferenceBackend;
import dev.sluice.testkit.PhasedLoad;
import dev.sluice.testkit.WindowCheck;
import dev.sluice.testkit.redis.RedisExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
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
import org.junit.jupiter.api.extension.RegisterExtension;
import org.redisson.api.RScript;
import org.redisson.api.RedissonClient;
import org.redisson.api.options.KeysScanOptions;
import org.redisson.api.redisnode.RedisNodes;
import org.redisson.api.redisnode.RedisSingle;
import org.redisson.client.codec.StringCodec;

/** What the Redis backend adds to the kit: key hygiene, script handling, several clients, failures. */
class RedisBackendTest {

    @RegisterExtension
    static final RedisExtension REDIS = new RedisExtension();

    private static final AtomicInteger NAMESPACES = new AtomicInteger();
    private static RedissonClient client;

    @BeforeAll
    static void connect() {
        client = newClient();
    }

    @AfterAll
    static void disconnect() {
        client.shutdown();
    }

    private static RedissonClient newClient() {
        return Clients.failFast(REDIS.endpoint());
    }

    private static String namespace() {
        return "t" + NAMESPACES.incrementAndGet();
    }

    private static Map<String, String> info(String section) {
        RedisSingle nodes = client.getRedisNodes(RedisNodes.SINGLE);
        return nodes.getInstance().info(org.redisson.api.redisnode.RedisNode.InfoSection.valueOf(section));
    }

    @Test
    @DisplayName("Every key gets a TTL; after the limits' rest the keys of 100,000 tenants are gone")
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void keysExpire() throws Exception {
        String ns = namespace();
        RedisBackend backend = RedisBackend.builder(client).namespace(ns)
                .timeout(Duration.ofSeconds(5)).build(); // key hygiene, not latency: a busy machine must not fail closed
        Policy policy = Policy.of(Limit.of("requests", 5, Duration.ofMillis(200), Algorithm.TOKEN_BUCKET),
                Limit.of("requests", 10, Duration.ofMillis(300), Algorithm.SLIDING_LOG));
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> all = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int thread = t;
                all.add(pool.submit(() -> {
                    for (int i = thread; i < 100_000; i += 8) {
                        assertThat(backend.acquire("tenant-" + i, policy, Cost.request()).granted()).isTrue();
                    }
                    return null;
                }));
            }
            for (Future<?> f : all) {
                f.get(100, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        // Every key of the namespace, checked inside Redis in one call: none may lack an expiry.
        List<Long> counts = client.getScript(StringCodec.INSTANCE).eval(RScript.Mode.READ_ONLY,
                "local n, forever = 0, 0 "
                        + "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
                        + "n = n + 1 if redis.call('PTTL', k) == -1 then forever = forever + 1 end end "
                        + "return {n, forever}",
                RScript.ReturnType.MULTI, List.of(), ns + ":*");
        assertThat(counts.get(0)).as("keys alive right after the load").isPositive();
        assertThat(counts.get(1)).as("keys without a TTL").isZero();
        // Rest comes 300 ms after the last grant, plus the script's one-second margin: poll, bounded.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        long left;
        do {
            left = client.getKeys().getKeysStream(KeysScanOptions.defaults().pattern(ns + ":*")).count();
            if (left == 0) {
                break;
            }
            TimeUnit.MILLISECONDS.sleep(100);
        } while (System.nanoTime() < deadline);
        assertThat(left).isZero();
    }

    @Test
    @DisplayName("A refund that leaves a key fresh deletes it at once")
    void refundToFreshDeletes() {
        String ns = namespace();
        ManualTicker ticker = new ManualTicker();
        RedisBackend backend = RedisBackend.builder(client).namespace(ns).ticker(ticker).build();
        Policy policy = Policy.of(Limit.perMinute("tokens", 100));
        backend.acquire("k", policy, Cost.tokens(30));
        assertThat(client.getKeys().countExists(backend.redisKey("k"))).isEqualTo(1);
        backend.refund("k", policy, Cost.tokens(30));
        assertThat(client.getKeys().countExists(backend.redisKey("k"))).isZero();
    }

    @Test
    @DisplayName("One function serves every key, cost and policy; it is reloaded by itself after FUNCTION FLUSH")
    void oneFunctionReloadedAfterFlush() {
        RedisBackend backend = RedisBackend.builder(client).namespace(namespace()).build();
        client.getFunction().flush();
        client.getScript().scriptFlush();
        for (int i = 0; i < 200; i++) {
            Algorithm a = Algorithm.values()[i % 5];
            Limit l = Limit.of("tokens", 100 + i, Duration.ofSeconds(1 + i % 7), a);
            Policy p = Policy.of(a.hasBurst() ? l.withBurst(100 + i) : l);
            assertThat(backend.acquire("key-" + i, p, Cost.tokens(1 + i % 50)).reason())
                    .isEqualTo(Decision.Reason.GRANTED);
        }
        assertThat(client.getFunction().list()).extracting(org.redisson.api.FunctionLibrary::getName)
                .containsExactly(RedisBackend.LIBRARY);
        assertThat(info("MEMORY").get("number_of_cached_scripts")).as("no script cached besides").isEqualTo("0");
        client.getFunction().flush();
        assertThat(backend.acquire("after-flush", Policy.of(Limit.perMinute("requests", 1)), Cost.request())
                .reason()).isEqualTo(Decision.Reason.GRANTED);
        assertThat(backend.degradedDecisions()).isZero();
    }

    @Test
    @DisplayName("Through EVALSHA: one script serves every key, cost and policy; it is reloaded after SCRIPT FLUSH")
    void oneScriptReloadedAfterFlush() {
        String ns = namespace();
        RedisBackend backend = RedisBackend.builder(client).namespace(ns).redisFunctions(false).build();
        client.getScript().scriptFlush();
        for (int i = 0; i < 200; i++) {
            Algorithm a = Algorithm.values()[i % 5];
            Limit l = Limit.of("tokens", 100 + i, Duration.ofSeconds(1 + i % 7), a);
            Policy p = Policy.of(a.hasBurst() ? l.withBurst(100 + i) : l);
            assertThat(backend.acquire("key-" + i, p, Cost.tokens(1 + i % 50)).reason())
                    .isEqualTo(Decision.Reason.GRANTED);
        }
        Map<String, String> memory = info("MEMORY");
        assertThat(memory.get("number_of_cached_scripts")).isEqualTo("1");
        client.getScript().scriptFlush();
        assertThat(backend.acquire("after-flush", Policy.of(Limit.perMinute("requests", 1)), Cost.request())
                .reason()).isEqualTo(Decision.Reason.GRANTED);
        assertThat(backend.degradedDecisions()).isZero();
    }

    @Test
    @DisplayName("Keys are namespaced, hash-tagged, and hashed when long or odd")
    void keyShapes() {
        RedisBackend backend = RedisBackend.builder(client).namespace("app").build();
        assertThat(backend.redisKey("tenant-42")).isEqualTo("app:{k:tenant-42}");
        assertThat(backend.redisKey("a{b}c")).startsWith("app:{h:").hasSize("app:{h:}".length() + 64);
        assertThat(backend.redisKey("x".repeat(65_536))).hasSize("app:{h:}".length() + 64);
        assertThat(backend.redisKey("k:a")).isNotEqualTo(backend.redisKey("a"));
        assertThatThrownBy(() -> RedisBackend.builder(client).namespace("a{b}"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("a{b}");
    }

    @Test
    @DisplayName("A timeout below 1 ms is refused: kept in whole milliseconds, it would time out every call")
    void timeoutOfAtLeastOneMillisecond() {
        assertThatThrownBy(() -> RedisBackend.builder(client).timeout(Duration.ofNanos(999_999)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("PT0.000999999S");
        assertThatThrownBy(() -> RedisBackend.builder(client).timeout(Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least 1 ms");
    }

    @Test
    @DisplayName("The number of script calls in flight per lane must be 1-64")
    void callsInFlightBounds() {
        assertThatThrownBy(() -> RedisBackend.builder(client).maxCallsInFlight(0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("was 0");
        assertThatThrownBy(() -> RedisBackend.builder(client).maxCallsInFlight(65))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("was 65");
        RedisBackend four = RedisBackend.builder(client).namespace(namespace()).maxCallsInFlight(4).build();
        assertThat(four.acquire("k", Policy.of(Limit.perMinute("requests", 1)), Cost.request()).granted()).isTrue();
        assertThat(four.acquire("k", Policy.of(Limit.perMinute("requests", 1)), Cost.request()).granted()).isFalse();
    }

    @Test
    @DisplayName("Limits too large for exact Lua arithmetic are refused with a clear error")
    void tooLargeForLua() {
        RedisBackend backend = RedisBackend.builder(client).namespace(namespace()).build();
        Policy huge = Policy.of(Limit.of("tokens", 10_000_000L, Duration.ofDays(1), Algorithm.TOKEN_BUCKET));
        assertThatThrownBy(() -> backend.acquire("k", huge, Cost.tokens(1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("2^53");
    }

    @Test
    @DisplayName("3 Redisson clients x 4 threads on shared keys admit no more than the limit in any window")
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void severalClientsShareOneQuota() throws Exception {
        String ns = namespace();
        ManualTicker ticker = new ManualTicker(1_000_000_000_000L);
        RedissonClient[] clients = {newClient(), newClient(), newClient()};
        Limit limit = Limit.of("requests", 25, Duration.ofSeconds(2), Algorithm.SLIDING_LOG);
        Policy policy = Policy.of(limit);
        SluiceLimiter[] limiters = new SluiceLimiter[3];
        for (int i = 0; i < 3; i++) {
            limiters[i] = SluiceLimiter.builder(RedisBackend.builder(clients[i]).namespace(ns).ticker(ticker).build())
                    .policy(policy).build();
        }
        int threads = 12;
        int phases = 30;
        String[] keys = {"shared-a", "shared-b"};
        PhasedLoad.Worker worker = (thread, phase, random, recorder) -> {
            for (int i = 0; i < 10; i++) {
                int k = random.nextInt(keys.length);
                if (limiters[thread % 3].tryAcquire(keys[k], Cost.request()).granted()) {
                    recorder.granted(k, 1);
                }
            }
        };
        Random r = new Random(3);
        PhasedLoad.Result load;
        try {
            load = PhasedLoad.run(ticker, threads, phases, keys.length, worker, phase -> r.nextInt(500_000), null);
        } finally {
            for (RedissonClient c : clients) {
                c.shutdown();
            }
        }
        for (int k = 0; k < keys.length; k++) {
            WindowCheck.assertWithinBound(limit, load.grants(k));
        }
        assertThat(load.total()).isPositive();
    }

    @Test
    @DisplayName("Redis TIME is the clock by default: two clients share one timeline and the wait is exact")
    void serverTime() {
        String ns = namespace();
        RedisBackend a = RedisBackend.builder(client).namespace(ns).build();
        Policy policy = Policy.of(Limit.of("requests", 1, Duration.ofHours(1), Algorithm.GCRA));
        assertThat(a.acquire("k", policy, Cost.request()).granted()).isTrue();
        Decision d = a.acquire("k", policy, Cost.request());
        assertThat(d.reason()).isEqualTo(Decision.Reason.RATE_LIMITED);
        assertThat(d.retryAfter()).isBetween(Duration.ofMinutes(59), Duration.ofHours(1));
        // The reference on the same numbers agrees that a second call within the hour waits.
        ReferenceBackend reference = new ReferenceBackend(new ManualTicker());
        reference.acquire("k", policy, Cost.request());
        assertThat(reference.acquire("k", policy, Cost.request()).retryAfterMicros()).isEqualTo(3_600_000_000L);
    }

    @Test
    @DisplayName("Another program's value under one key's Redis key gets that key the failure policy; every other key"
            + " still goes to Redis")
    void foreignValueFailsOnlyItsKey() {
        RedisBackend backend = RedisBackend.builder(client).namespace(namespace())
                .retryInterval(Duration.ofMinutes(10)).build();
        Policy policy = Policy.of(Limit.perMinute("requests", 5));
        client.getBucket(backend.redisKey("taken"), StringCodec.INSTANCE).set("not a hash");

        Decision foreign = backend.acquire("taken", policy, Cost.request());
        assertThat(foreign.reason()).isEqualTo(Decision.Reason.BACKEND_UNAVAILABLE);
        assertThat(backend.degradedDecisions()).isEqualTo(1);
        for (int i = 0; i < 5; i++) {
            assertThat(backend.acquire("other", policy, Cost.request()).granted()).isTrue();
        }
        assertThat(backend.acquire("other", policy, Cost.request()).reason())
                .as("Redis counted the other key: its sixth call is refused by the limit, not by the failure policy")
                .isEqualTo(Decision.Reason.RATE_LIMITED);
        assertThat(backend.degradedDecisions()).isEqualTo(1);
        assertThat(client.getBucket(backend.redisKey("taken"), StringCodec.INSTANCE).get()).isEqualTo("not a hash");
    }

    @Test
    @DisplayName("A backend built from a Redisson Config owns its client: close() shuts it down, then it fails closed")
    void ownsClientFromConfig() {
        org.redisson.config.Config config = new org.redisson.config.Config();
        config.useSingleServer().setAddress(REDIS.endpoint().uri());
        RedisBackend backend = RedisBackend.builder(config).namespace(namespace()).build();
        Policy policy = Policy.of(Limit.perMinute("requests", 5));
        assertThat(backend.acquire("k", policy, Cost.request()).granted()).isTrue();
        backend.close();
        Decision after = backend.acquire("k", policy, Cost.request());
        assertThat(after.reason()).isEqualTo(Decision.Reason.BACKEND_UNAVAILABLE);
        assertThat(backend.degradedDecisions()).isEqualTo(1);
    }

    @Test
    @DisplayName("One script call applies a batch on two keys in order (grants, a refusal, a refund, a policy change), "
            + "as the reference does one request at a time")
    void batchMatchesTheReference() throws Exception {
        String script;
        try (java.io.InputStream in = RedisBackend.class.getResourceAsStream("limiter.lua")) {
            script = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
        Policy first = Policy.of(Limit.of("requests", 3, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET),
                Limit.of("tokens", 100, Duration.ofMinutes(1), Algorithm.SLIDING_LOG));
        Policy second = Policy.of(Limit.of("requests", 5, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET),
                Limit.of("tokens", 100, Duration.ofMinutes(1), Algorithm.SLIDING_LOG));
        Cost small = Cost.request().and("tokens", 10);
        Cost big = Cost.request().and("tokens", 95);
        String[] ops = {"a", "a", "a", "r", "a", "a", "a", "a", "a", "a"};
        int[] keyOf = {1, 1, 2, 1, 1, 1, 2, 1, 1, 2};
        Policy[] policies = {first, first, first, first, first, first, first, second, second, second};
        Cost[] costs = {small, small, big, small, big, small, small, small, small, big};
        long now = 1_700_000_000_000_000L;

        String one = "batch-" + namespace() + ":{k:one}";
        String two = "batch-" + namespace() + ":{k:two}";
        List<Object> keys = List.of(one, two);
        List<Object> args = new ArrayList<>(List.of(Long.toString(now), "2", RedisBackend.spec(first),
                RedisBackend.spec(second)));
        StringBuilder requests = new StringBuilder();
        for (int j = 0; j < ops.length; j++) {
            requests.append(j == 0 ? "" : " ").append(ops[j].equals("a") ? 1 : 2).append(' ').append(keyOf[j])
                    .append(' ').append(policies[j] == first ? 1 : 2);
            for (Limit l : policies[j].limits()) {
                requests.append(' ').append(costs[j].units(l.dimension()));
            }
        }
        args.add(requests.toString());
        String answer = client.getScript(StringCodec.INSTANCE).eval(one, RScript.Mode.READ_WRITE, script,
                RScript.ReturnType.VALUE, keys, args.toArray());
        long[] r = RedisBackend.parseLongs(answer);

        assertThat(r[0]).as("the time the batch was decided at").isEqualTo(now);
        ReferenceBackend reference = new ReferenceBackend(new ManualTicker(now));
        int at = 1;
        int granted = 0;
        for (int j = 0; j < ops.length; j++) {
            String key = "k" + keyOf[j];
            Decision d = ops[j].equals("a") ? reference.acquire(key, policies[j], costs[j])
                    : reference.refund(key, policies[j], costs[j]);
            int n = policies[j].size();
            if (ops[j].equals("a")) {
                assertThat(r[at]).as("request %d granted", j).isEqualTo(d.granted() ? 1L : 0L);
                assertThat(r[at + 1]).as("request %d wait", j).isEqualTo(d.retryAfterMicros());
                assertThat(r[at + 2]).as("request %d bound", j).isEqualTo(d.boundIndex());
                granted += d.granted() ? 1 : 0;
            }
            for (int i = 0; i < n; i++) {
                assertThat(r[at + 3 + i]).as("request %d remaining %d", j, i).isEqualTo(d.remaining(i));
            }
            at += 3 + n;
        }
        assertThat(r).hasSize(at);
        assertThat(granted).as("the reference grants some and refuses some: the test means something")
                .isBetween(1, ops.length - 2);
    }

    @Test
    @DisplayName("A script answer is read as integers separated by single spaces; anything else is refused")
    void parsesAnswers() {
        assertThat(RedisBackend.parseLongs("1700000000000000 1 0 -1 42")).containsExactly(1700000000000000L, 1, 0, -1, 42);
        assertThat(RedisBackend.parseLongs("7")).containsExactly(7);
        assertThat(RedisBackend.parseLongs("")).isEmpty();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> RedisBackend.parseLongs("1 x"))
                .isInstanceOf(NumberFormatException.class);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> RedisBackend.parseLongs("1.5e15"))
                .isInstanceOf(NumberFormatException.class);
    }
}

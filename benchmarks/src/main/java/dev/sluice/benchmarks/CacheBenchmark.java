package dev.sluice.benchmarks;

import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.config.Config;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.cache.CacheAnswer;
import dev.sluice.cache.CacheRequest;
import dev.sluice.cache.LlmResponse;
import dev.sluice.cache.ResponseCache;
import dev.sluice.cache.Upstream;
import dev.sluice.hazelcast.HazelcastCacheStore;
import dev.sluice.memory.MemoryCacheStore;
import dev.sluice.redis.RedisCacheStore;
import dev.sluice.testkit.redis.RedisServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.redisson.Redisson;
import org.redisson.api.RedissonClient;

/**
 * Cache hits per store: {@code storeGet} reads one 2 KB entry (a typical chat answer) from the {@link CacheStore};
 * {@code cacheHit} is a whole {@link ResponseCache#call} that hits, so it adds the canonical key (Jackson + SHA-256 of
 * a short chat request) and decoding; {@code keyOnly} is that key alone. Caffeine is in-process, Redis a private
 * {@code redis-server} on loopback through Redisson, Hazelcast a client to a one-member cluster on loopback.
 * Throughput (operations per second) and sampled latency (percentiles, µs), each run alone:
 *
 * <pre>
 * ./mvnw -B -q -DskipTests package -pl benchmarks -am
 * java -jar benchmarks/target/benchmarks.jar CacheBenchmark -bm thrpt -tu s -t 1 \
 *     -jvmArgsAppend "--add-opens java.base/java.lang=ALL-UNNAMED"
 * java -jar benchmarks/target/benchmarks.jar CacheBenchmark -bm sample -tu us -t 1 \
 *     -jvmArgsAppend "--add-opens java.base/java.lang=ALL-UNNAMED"
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode({Mode.Throughput, Mode.SampleTime})
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-Dhazelcast.logging.type=none",
    "-Dhazelcast.phone.home.enabled=false"})
public class CacheBenchmark {

    /** Where entries live. */
    public enum Store {
        CAFFEINE, REDIS, HAZELCAST
    }

    @Param
    public Store store;

    private @Nullable RedisServer server;
    private @Nullable RedissonClient redisson;
    private @Nullable HazelcastInstance member;
    private @Nullable HazelcastInstance client;
    private CacheStore cacheStore;
    private ResponseCache cache;
    private CacheRequest request;
    private final Upstream never = () -> {
        throw new IllegalStateException("the benchmark must only hit");
    };

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        cacheStore = switch (store) {
            case CAFFEINE -> MemoryCacheStore.builder().maximumEntries(10_000).build();
            case REDIS -> {
                server = RedisServer.start();
                org.redisson.config.Config config = new org.redisson.config.Config();
                config.useSingleServer().setAddress(server.uri());
                redisson = Redisson.create(config);
                yield RedisCacheStore.builder(redisson).namespace("bench").build();
            }
            case HAZELCAST -> {
                String cluster = "bench-" + UUID.randomUUID();
                int port = freePort();
                Config config = new Config();
                config.setClusterName(cluster);
                config.getNetworkConfig().setPort(port).setPortAutoIncrement(false);
                config.getNetworkConfig().getInterfaces().setEnabled(true).addInterface("127.0.0.1");
                config.getNetworkConfig().getJoin().getMulticastConfig().setEnabled(false);
                config.getNetworkConfig().getJoin().getAutoDetectionConfig().setEnabled(false);
                config.getNetworkConfig().getJoin().getTcpIpConfig().setEnabled(true)
                        .addMember("127.0.0.1:" + port);
                member = Hazelcast.newHazelcastInstance(config);
                ClientConfig cc = new ClientConfig();
                cc.setClusterName(cluster);
                cc.getNetworkConfig().addAddress("127.0.0.1:" + port);
                client = HazelcastClient.newHazelcastClient(cc);
                yield HazelcastCacheStore.builder(client).mapName("bench").build();
            }
        };
        byte[] value = new byte[2048];
        Arrays.fill(value, (byte) 'x');
        cacheStore.put("bench-entry", value, Duration.ofHours(1));
        cache = ResponseCache.builder(cacheStore).name("bench").build();
        request = CacheRequest.builder().credential("sk-bench").baseUrl("https://api.openai.com/v1")
                .body("{\"model\":\"gpt-4o-mini\",\"temperature\":0,\"max_tokens\":256,\"messages\":["
                        + "{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},"
                        + "{\"role\":\"user\",\"content\":\"What is the capital of France? Answer in one word.\"}]}")
                .build();
        String answer = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"" + "Paris. ".repeat(250) + "\"},"
                + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":500}}";
        CacheAnswer first = cache.call(request, () -> LlmResponse.json(200, answer));
        if (first.source() != CacheAnswer.Source.MISS || cache.call(request, never).source()
                != CacheAnswer.Source.HIT) {
            throw new IllegalStateException("the cache does not hit: " + first.source());
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        cache.close();
        if (redisson != null) {
            redisson.shutdown();
        }
        if (server != null) {
            server.close();
        }
        if (client != null) {
            client.shutdown();
        }
        if (member != null) {
            member.shutdown();
        }
    }

    @Benchmark
    public byte @Nullable [] storeGet() {
        return cacheStore.get("bench-entry");
    }

    @Benchmark
    public CacheAnswer cacheHit() throws Exception {
        return cache.call(request, never);
    }

    @Benchmark
    public String keyOnly() {
        return cache.key(request);
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

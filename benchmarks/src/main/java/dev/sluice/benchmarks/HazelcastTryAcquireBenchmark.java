package dev.sluice.benchmarks;

import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.config.Config;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.hazelcast.Bucket4jHazelcastBackend;
import dev.sluice.hazelcast.HazelcastBackend;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
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

/**
 * {@code tryAcquire} on a 2-member embedded Hazelcast cluster, called through a Hazelcast client so that every call
 * crosses the network, one hot key, a limit that never denies, beside Bucket4j's Hazelcast engine; {@code IMAP_GET} (a plain read of one entry) is the
 * ceiling. Run at 1, 4 and 16 threads:
 *
 * <pre>
 * ./mvnw -B -q -DskipTests package
 * java -jar benchmarks/target/benchmarks.jar HazelcastTryAcquireBenchmark -t 16 \
 *     -jvmArgsAppend "--add-opens java.base/java.lang=ALL-UNNAMED -Dhazelcast.logging.type=none"
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-Dhazelcast.logging.type=none",
    "-Dhazelcast.phone.home.enabled=false"})
public class HazelcastTryAcquireBenchmark {

    /** What is measured. */
    public enum Impl {
        SLUICE_GCRA,
        SLUICE_TOKEN_BUCKET,
        SLUICE_FIXED_WINDOW,
        SLUICE_SLIDING_WINDOW_COUNTER,
        SLUICE_SLIDING_LOG,
        /** Bucket4j's own entry processor ({@code bucket4j_jdk17-hazelcast}) behind the Sluice API. */
        BUCKET4J_TOKEN_BUCKET,
        IMAP_GET
    }


    @Param
    public Impl impl;

    private final List<HazelcastInstance> members = new ArrayList<>();
    private HazelcastInstance client;
    private BooleanSupplier acquire;

    @Setup(Level.Trial)
    public void setUp() {
        String cluster = "bench-" + UUID.randomUUID();
        int[] ports = {freePort(), freePort()};
        for (int port : ports) {
            Config config = new Config();
            config.setClusterName(cluster);
            config.getNetworkConfig().setPort(port).setPortAutoIncrement(false);
            config.getNetworkConfig().getInterfaces().setEnabled(true).addInterface("127.0.0.1");
            config.getNetworkConfig().getJoin().getMulticastConfig().setEnabled(false);
            config.getNetworkConfig().getJoin().getAutoDetectionConfig().setEnabled(false);
            config.getNetworkConfig().getJoin().getTcpIpConfig().setEnabled(true)
                    .addMember("127.0.0.1:" + ports[0]).addMember("127.0.0.1:" + ports[1]);
            Bucket4jHazelcastBackend.registerSerializers(config.getSerializationConfig());
            members.add(Hazelcast.newHazelcastInstance(config));
        }
        ClientConfig config = new ClientConfig();
        config.setClusterName(cluster);
        config.getNetworkConfig().addAddress("127.0.0.1:" + ports[0], "127.0.0.1:" + ports[1]);
        Bucket4jHazelcastBackend.registerSerializers(config.getSerializationConfig());
        client = HazelcastClient.newHazelcastClient(config);
        acquire = switch (impl) {
            case SLUICE_GCRA -> sluice(NeverDenying.limit(Algorithm.GCRA));
            case SLUICE_TOKEN_BUCKET -> sluice(NeverDenying.limit(Algorithm.TOKEN_BUCKET));
            case SLUICE_FIXED_WINDOW -> sluice(NeverDenying.limit(Algorithm.FIXED_WINDOW));
            case SLUICE_SLIDING_WINDOW_COUNTER -> sluice(NeverDenying.limit(Algorithm.SLIDING_WINDOW_COUNTER));
            case SLUICE_SLIDING_LOG -> sluice(NeverDenying.limit(Algorithm.SLIDING_LOG));
            case BUCKET4J_TOKEN_BUCKET -> {
                SluiceLimiter l = SluiceLimiter.builder(Bucket4jHazelcastBackend.create(client, "bench-b4j"))
                        .policy(Policy.of(NeverDenying.limit(Algorithm.TOKEN_BUCKET))).build();
                Cost one = Cost.request();
                yield () -> l.tryAcquire("bench", one).granted();
            }
            case IMAP_GET -> {
                IMap<String, byte[]> map = client.getMap("plain");
                map.put("bench", new byte[32]);
                yield () -> map.get("bench") != null;
            }
        };
    }

    private BooleanSupplier sluice(Limit limit) {
        SluiceLimiter l = SluiceLimiter.builder(HazelcastBackend.builder(client).timeout(Duration.ofSeconds(10))
                .build()).policy(Policy.of(limit)).build();
        Cost one = Cost.request();
        return () -> l.tryAcquire("bench", one).granted();
    }

    /** Fails the run if anything was denied, then stops the client and the members. */
    @TearDown(Level.Trial)
    public void tearDown() {
        try {
            for (int i = 0; i < 1000; i++) {
                if (!acquire.getAsBoolean()) {
                    throw new IllegalStateException(impl + " denied: the benchmark's limit must never deny");
                }
            }
        } finally {
            client.shutdown();
            members.forEach(HazelcastInstance::shutdown);
        }
    }

    @Benchmark
    public boolean tryAcquire() {
        return acquire.getAsBoolean();
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

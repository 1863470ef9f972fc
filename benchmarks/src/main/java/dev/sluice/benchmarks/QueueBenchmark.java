package dev.sluice.benchmarks;

import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.config.Config;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import dev.sluice.api.Algorithm;
import dev.sluice.api.Policy;
import dev.sluice.api.queue.JobQueue;
import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Priority;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.core.queue.Dispatcher;
import dev.sluice.core.queue.JobHandler;
import dev.sluice.hazelcast.HazelcastJobQueue;
import dev.sluice.memory.MemoryBackend;
import dev.sluice.memory.MemoryJobQueue;
import dev.sluice.redis.RedisJobQueue;
import dev.sluice.testkit.redis.RedisServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
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
 * The queue and its dispatcher when the limit does not bind (a never-denying GCRA in memory), per queue
 * implementation: in memory, Redis Streams on a private {@code redis-server}, Hazelcast on 2 embedded members reached
 * through a client. {@code enqueueToStart} submits one job and waits until its handler starts; {@code latency} waits
 * for the handler's (empty) result, so it adds the ack. {@code throughput} submits 100 jobs and waits for all:
 * jobs per second with 4 workers.
 *
 * <pre>
 * ./mvnw -B -q -DskipTests package -pl benchmarks -am
 * java -jar benchmarks/target/benchmarks.jar QueueBenchmark \
 *     -jvmArgsAppend "--add-opens java.base/java.lang=ALL-UNNAMED"
 * </pre>
 */
@State(Scope.Benchmark)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-Dhazelcast.logging.type=none",
    "-Dhazelcast.phone.home.enabled=false"})
public class QueueBenchmark {

    /** The queue implementation. */
    public enum Impl {
        MEMORY,
        REDIS,
        HAZELCAST
    }

    @Param
    public Impl impl;

    private RedisServer server;
    private RedissonClient redisson;
    private final List<HazelcastInstance> members = new ArrayList<>();
    private HazelcastInstance client;
    private JobQueue queue;
    private SluiceLimiter limiter;
    private Dispatcher<Boolean> dispatcher;
    private JobRequest request;
    /** Completed by the handler as it starts a job: what {@link #enqueueToStart} waits for. */
    private volatile CompletableFuture<Boolean> started = new CompletableFuture<>();

    @Setup(Level.Trial)
    public void setUp() {
        String name = "bench-" + UUID.randomUUID().toString().substring(0, 8);
        queue = switch (impl) {
            case MEMORY -> MemoryJobQueue.builder().build();
            case REDIS -> {
                server = RedisServer.start();
                org.redisson.config.Config config = new org.redisson.config.Config();
                config.useSingleServer().setAddress(server.uri());
                redisson = Redisson.create(config);
                yield RedisJobQueue.builder(redisson, name).build();
            }
            case HAZELCAST -> {
                startCluster(name);
                yield HazelcastJobQueue.builder(client, name).build();
            }
        };
        limiter = SluiceLimiter.builder(MemoryBackend.create())
                .policy(Policy.of(NeverDenying.limit(Algorithm.GCRA))).build();
        dispatcher = Dispatcher.builder(queue, limiter, (JobHandler<Boolean>) job -> {
                    started.complete(Boolean.TRUE);
                    return Boolean.TRUE;
                }).workers(4)
                .name("bench").build();
        request = JobRequest.builder(new byte[64]).tenant("bench").priority(Priority.NORMAL).build();
    }

    private void startCluster(String cluster) {
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
            members.add(Hazelcast.newHazelcastInstance(config));
        }
        ClientConfig config = new ClientConfig();
        config.setClusterName(cluster);
        config.getNetworkConfig().addAddress("127.0.0.1:" + ports[0], "127.0.0.1:" + ports[1]);
        client = HazelcastClient.newHazelcastClient(config);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        dispatcher.close();
        limiter.close();
        queue.close();
        if (redisson != null) {
            redisson.shutdown();
            server.close();
        }
        if (client != null) {
            client.shutdown();
            members.forEach(HazelcastInstance::shutdown);
        }
    }

    /** One job, from submit to the moment its handler starts (enqueue, wake, take, limiter, start). */
    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public Boolean enqueueToStart() throws Exception {
        CompletableFuture<Boolean> start = new CompletableFuture<>();
        started = start;
        dispatcher.submit(request);
        return start.get(30, TimeUnit.SECONDS);
    }

    /** One job, submit to result (start, handler, ack, completion). */
    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public Boolean latency() throws Exception {
        return dispatcher.submit(request).get(30, TimeUnit.SECONDS);
    }

    /** 100 jobs submitted at once, all results awaited: the score is jobs per second. */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OperationsPerInvocation(100)
    public int throughput() throws Exception {
        List<CompletableFuture<Boolean>> fs = new ArrayList<>(100);
        for (int i = 0; i < 100; i++) {
            fs.add(dispatcher.submit(request));
        }
        int n = 0;
        for (CompletableFuture<Boolean> f : fs) {
            n += f.get(60, TimeUnit.SECONDS) ? 1 : 0;
        }
        return n;
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

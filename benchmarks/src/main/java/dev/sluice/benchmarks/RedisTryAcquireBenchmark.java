package dev.sluice.benchmarks;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.redis.Bucket4jRedisBackend;
import dev.sluice.redis.RedisBackend;
import dev.sluice.testkit.redis.RedisServer;
import java.time.Duration;
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
import org.redisson.Redisson;
import org.redisson.api.RRateLimiter;
import org.redisson.api.RateType;
import org.redisson.api.RedissonClient;
import org.redisson.config.Config;

/**
 * {@code tryAcquire} through Redis on one hot key with a limit that never denies: each Sluice algorithm on
 * {@link RedisBackend}, beside Bucket4j on Redisson and Redisson's own {@link RRateLimiter}, against one private
 * {@code redis-server} the benchmark starts on a free loopback port. Run at 1, 4 and 16 threads:
 *
 * <pre>
 * ./mvnw -B -q -DskipTests package
 * java -jar benchmarks/target/benchmarks.jar RedisTryAcquireBenchmark -t 1
 * java -jar benchmarks/target/benchmarks.jar RedisTryAcquireBenchmark -t 16
 * java -jar benchmarks/target/benchmarks.jar RedisTryAcquireBenchmark -t 16 -p impl=SLUICE_GCRA -p callsInFlight=1,2,4
 * benchmarks/redis-ceiling.sh 16    # redis-benchmark on Sluice's own GCRA script, the ceiling at 16 connections
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 10, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class RedisTryAcquireBenchmark {

    /** What is measured. */
    public enum Impl {
        SLUICE_GCRA,
        SLUICE_TOKEN_BUCKET,
        SLUICE_FIXED_WINDOW,
        SLUICE_SLIDING_WINDOW_COUNTER,
        SLUICE_SLIDING_LOG,
        BUCKET4J_REDISSON,
        REDISSON_RRATELIMITER
    }


    @Param
    public Impl impl;

    /** Sluice's {@code RedisBackend.Builder.maxCallsInFlight} (the others ignore it). */
    @Param("2")
    public int callsInFlight;

    private RedisServer server;
    private RedissonClient client;
    private BooleanSupplier acquire;

    @Setup(Level.Trial)
    public void setUp() {
        server = RedisServer.start();
        Config config = new Config();
        config.useSingleServer().setAddress(server.uri()).setConnectionPoolSize(64).setConnectionMinimumIdleSize(16);
        client = Redisson.create(config);
        String key = "bench";
        acquire = switch (impl) {
            case SLUICE_GCRA -> sluice(NeverDenying.limit(Algorithm.GCRA));
            case SLUICE_TOKEN_BUCKET -> sluice(NeverDenying.limit(Algorithm.TOKEN_BUCKET));
            case SLUICE_FIXED_WINDOW -> sluice(NeverDenying.limit(Algorithm.FIXED_WINDOW));
            case SLUICE_SLIDING_WINDOW_COUNTER -> sluice(NeverDenying.limit(Algorithm.SLIDING_WINDOW_COUNTER));
            case SLUICE_SLIDING_LOG -> sluice(NeverDenying.limit(Algorithm.SLIDING_LOG));
            case BUCKET4J_REDISSON -> {
                SluiceLimiter l = SluiceLimiter.builder(Bucket4jRedisBackend.create(client, "b4j"))
                        .policy(Policy.of(NeverDenying.limit(Algorithm.TOKEN_BUCKET)))
                        .build();
                Cost one = Cost.request();
                yield () -> l.tryAcquire(key, one).granted();
            }
            case REDISSON_RRATELIMITER -> {
                RRateLimiter r = client.getRateLimiter("rrl");
                r.trySetRate(RateType.OVERALL, NeverDenying.RATE, Duration.ofSeconds(1));
                yield r::tryAcquire;
            }
        };
    }

    private BooleanSupplier sluice(Limit limit) {
        SluiceLimiter l = SluiceLimiter.builder(RedisBackend.builder(client).namespace("bench")
                        .maxCallsInFlight(callsInFlight).build())
                .policy(Policy.of(limit)).build();
        Cost one = Cost.request();
        return () -> l.tryAcquire("bench", one).granted();
    }

    /** Fails the run if anything was denied (all must do the same work, a grant), then stops the server. */
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
            server.close();
        }
    }

    @Benchmark
    public boolean tryAcquire() {
        return acquire.getAsBoolean();
    }
}

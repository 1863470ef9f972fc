package dev.sluice.benchmarks;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.memory.MemoryBackend;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What waiting costs a call that does not have to wait: {@code tryAcquire}, {@code acquire} and {@code acquireAsync}
 * (joined) on one key of the in-memory backend, GCRA, with a limit that never denies. The three differ only in what
 * an acquire does around the same look at the backend.
 *
 * <pre>
 * ./mvnw -B -q -DskipTests package
 * java -jar benchmarks/target/benchmarks.jar 'benchmarks.AcquireBenchmark' -t 1
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class AcquireBenchmark {

    /** The call measured. */
    public enum Call {
        TRY_ACQUIRE,
        ACQUIRE,
        ACQUIRE_ASYNC
    }

    @Param({"TRY_ACQUIRE", "ACQUIRE", "ACQUIRE_ASYNC"})
    public Call call;

    private static final Cost COST = Cost.request();
    private static final Duration MAX_WAIT = Duration.ofSeconds(1);
    private SluiceLimiter limiter;

    @Setup
    public void setUp() {
        limiter = SluiceLimiter.builder(MemoryBackend.create())
                .policy(Policy.of(NeverDenying.limit(Algorithm.GCRA))).build();
    }

    @Benchmark
    public Decision call() throws InterruptedException {
        return switch (call) {
            case TRY_ACQUIRE -> limiter.tryAcquire("k", COST);
            case ACQUIRE -> limiter.acquire("k", COST, MAX_WAIT);
            case ACQUIRE_ASYNC -> limiter.acquireAsync("k", COST, MAX_WAIT).join();
        };
    }
}

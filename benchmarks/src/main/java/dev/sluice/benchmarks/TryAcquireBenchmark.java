package dev.sluice.benchmarks;

import com.google.common.util.concurrent.RateLimiter;
import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.api.Ticker;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.memory.MemoryBackend;
import io.github.bucket4j.Bandwidth;
import io.github.bucket4j.Bucket;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@code tryAcquire} throughput on one key with a limit that never denies: each Sluice algorithm on the in-memory
 * backend, through the public {@code RateLimiter} API (key lookup included), beside Bucket4j's local bucket,
 * Resilience4j's {@code RateLimiter}, Guava's {@code RateLimiter} (the peers' limiter objects held directly), and
 * five yardsticks: a bare {@link AtomicLong} increment, the clock read alone, the floor of any keyed lock-free
 * limiter ({@link Impl#KEYED_CAS_FLOOR}), that of an exact one that allocates nothing
 * ({@link Impl#KEYED_PRIMITIVE_FLOOR}) and that of one that also answers as Sluice does
 * ({@link Impl#KEYED_DECISION_FLOOR}). Run at 1 and 2 threads:
 *
 * <pre>
 * ./mvnw -B -q -DskipTests package
 * java -jar benchmarks/target/benchmarks.jar 'benchmarks.TryAcquireBenchmark' -t 1
 * java -jar benchmarks/target/benchmarks.jar 'benchmarks.TryAcquireBenchmark' -t 2
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class TryAcquireBenchmark {

    /** What is measured. */
    public enum Impl {
        SLUICE_FIXED_WINDOW,
        SLUICE_SLIDING_LOG,
        SLUICE_SLIDING_WINDOW_COUNTER,
        SLUICE_TOKEN_BUCKET,
        SLUICE_GCRA,
        /** The token bucket with its Micrometer meters on (a {@code SimpleMeterRegistry}): what metrics cost a call. */
        SLUICE_TOKEN_BUCKET_METERED,
        BUCKET4J_LOCAL,
        RESILIENCE4J,
        GUAVA,
        /** A bare {@link AtomicLong} increment: no clock, no key. */
        ATOMIC_LONG,
        /** {@code System.nanoTime()} alone, which every limiter here reads once per call. */
        CLOCK,
        /**
         * The least a keyed lock-free limiter does: a clock read, a {@link ConcurrentHashMap} lookup, one new
         * immutable state and one compare-and-set, with no limit logic and no decision object.
         */
        KEYED_CAS_FLOOR,
        /**
         * The least an exact keyed limiter does if it allocates nothing: a clock read, a {@link ConcurrentHashMap}
         * lookup, GCRA's admission test on one {@code long} (the theoretical arrival time, in nanoseconds at one
         * unit per nanosecond) and a compare-and-set, stepping aside after a lost one as Sluice and Resilience4j
         * do; no decision object, no policy, no other limit.
         */
        KEYED_PRIMITIVE_FLOOR,
        /**
         * {@link #KEYED_PRIMITIVE_FLOOR} plus what Sluice's answer asks of every call beyond it: the time in
         * microseconds ({@link Ticker#system()}), GCRA on the limit's own scale, and the shared {@link Decision} that
         * says what remains (a division); no policy resolution, validation, other limits or eviction. The least an
         * exact keyed limiter that answers as Sluice does can do.
         */
        KEYED_DECISION_FLOOR
    }


    @Param
    public Impl impl;

    private BooleanSupplier acquire;

    @Setup
    public void setUp() {
        acquire = switch (impl) {
            case SLUICE_FIXED_WINDOW -> sluice(NeverDenying.limit(Algorithm.FIXED_WINDOW));
            case SLUICE_SLIDING_LOG -> sluice(NeverDenying.limit(Algorithm.SLIDING_LOG));
            case SLUICE_SLIDING_WINDOW_COUNTER -> sluice(NeverDenying.limit(Algorithm.SLIDING_WINDOW_COUNTER));
            case SLUICE_TOKEN_BUCKET -> sluice(NeverDenying.limit(Algorithm.TOKEN_BUCKET));
            case SLUICE_GCRA -> sluice(NeverDenying.limit(Algorithm.GCRA));
            case SLUICE_TOKEN_BUCKET_METERED -> sluice(SluiceLimiter.builder(MemoryBackend.create()).name("bench")
                    .policy(Policy.of(NeverDenying.limit(Algorithm.TOKEN_BUCKET)))
                    .meterRegistry(new SimpleMeterRegistry()).build());
            case BUCKET4J_LOCAL -> {
                Bucket bucket = Bucket.builder()
                        .addLimit(Bandwidth.builder().capacity(NeverDenying.RATE)
                                .refillGreedy(NeverDenying.RATE, Duration.ofSeconds(1))
                                .build())
                        .build();
                yield () -> bucket.tryConsume(1);
            }
            case RESILIENCE4J -> {
                io.github.resilience4j.ratelimiter.RateLimiter r = io.github.resilience4j.ratelimiter.RateLimiter.of(
                        "bench", RateLimiterConfig.custom()
                                .limitForPeriod(Integer.MAX_VALUE)
                                .limitRefreshPeriod(Duration.ofSeconds(1))
                                .timeoutDuration(Duration.ZERO)
                                .build());
                yield r::acquirePermission;
            }
            case GUAVA -> {
                RateLimiter g = RateLimiter.create(1e12);
                yield g::tryAcquire;
            }
            case ATOMIC_LONG -> {
                AtomicLong counter = new AtomicLong();
                yield () -> counter.incrementAndGet() > 0;
            }
            case CLOCK -> () -> System.nanoTime() != 0;
            case KEYED_CAS_FLOOR -> {
                Map<String, AtomicReference<FloorState>> map = new ConcurrentHashMap<>();
                map.put("tenant-42", new AtomicReference<>(new FloorState(0, 0)));
                yield () -> {
                    long now = System.nanoTime();
                    AtomicReference<FloorState> ref = map.get("tenant-42");
                    FloorState s = ref.get();
                    ref.compareAndSet(s, new FloorState(s.count() + 1, now)); // a lost race is not retried
                    return true;
                };
            }
            case KEYED_PRIMITIVE_FLOOR -> primitiveFloor();
            case KEYED_DECISION_FLOOR -> decisionFloor();
        };
    }

    private record FloorState(long count, long time) {
    }

    /** GCRA on one key: one unit per nanosecond, a tolerance of one second's units. */
    private static BooleanSupplier primitiveFloor() {
        long tolerance = TimeUnit.SECONDS.toNanos(1);
        Map<String, AtomicLong> map = new ConcurrentHashMap<>();
        map.put("tenant-42", new AtomicLong(System.nanoTime()));
        return () -> {
            long now = System.nanoTime();
            AtomicLong tat = map.get("tenant-42");
            while (true) {
                long t = tat.get();
                if (t - now > tolerance) {
                    return false;
                }
                if (tat.compareAndSet(t, Math.max(t, now) + 1)) {
                    return true;
                }
                LockSupport.parkNanos(1);
            }
        };
    }

    /** GCRA on one key in {@code NeverDenying}'s GCRA limit, on its scale (1/capacity µs), answering a decision. */
    private static BooleanSupplier decisionFloor() {
        Limit limit = NeverDenying.limit(Algorithm.GCRA);
        Policy policy = Policy.of(limit);
        Ticker ticker = Ticker.system();
        long base = ticker.nowMicros() - 1_000_000;
        long capacity = limit.capacity();
        long period = limit.periodMicros();
        long tolerance = limit.burst() * period;
        Map<String, AtomicLong> map = new ConcurrentHashMap<>();
        map.put("tenant-42", new AtomicLong());
        return () -> {
            long now = (ticker.nowMicros() - base) * capacity;
            AtomicLong cell = map.get("tenant-42");
            while (true) {
                long c = cell.get();
                long after = Math.max(c - now, 0) + period;
                if (after > tolerance) {
                    return false;
                }
                if (cell.compareAndSet(c, now + after)) {
                    return Decision.granted(policy, (tolerance - after) / period).granted();
                }
                LockSupport.parkNanos(1);
            }
        };
    }

    private BooleanSupplier sluice(Limit limit) {
        return sluice(SluiceLimiter.builder(MemoryBackend.create()).name("bench").policy(Policy.of(limit)).build());
    }

    private BooleanSupplier sluice(SluiceLimiter limiter) {
        Cost one = Cost.request();
        return () -> limiter.tryAcquire("tenant-42", one).granted();
    }

    /** Fails the run if the limit denied anything: every implementation must do the same work, a grant. */
    @TearDown
    public void check() {
        for (int i = 0; i < 100_000; i++) {
            if (!acquire.getAsBoolean()) {
                throw new IllegalStateException(impl + " denied: the benchmark's limit must never deny");
            }
        }
    }

    @Benchmark
    public boolean tryAcquire() {
        return acquire.getAsBoolean();
    }
}

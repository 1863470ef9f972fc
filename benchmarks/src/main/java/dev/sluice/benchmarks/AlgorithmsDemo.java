package dev.sluice.benchmarks;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.memory.MemoryBackend;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Compares the algorithms on the in-memory backend and prints a table. Each algorithm enforces 100 requests per 10 s
 * against the same 60 simulated seconds of traffic (manual time, seeded): a steady 20 requests/s, twice the limit,
 * and a burst of 150 requests in the 200 ms around the 30 s window edge. Then each one's real single-thread
 * {@code tryAcquire} throughput is sampled for a moment (indicative; the JMH benchmark gives the measured figures).
 *
 * <pre>
 * ./mvnw -B -q -DskipTests package &amp;&amp; java -cp benchmarks/target/benchmarks.jar dev.sluice.benchmarks.AlgorithmsDemo
 * </pre>
 */
public final class AlgorithmsDemo {

    private static final long PERIOD = 10_000_000;
    private static final long CAPACITY = 100;

    private AlgorithmsDemo() {
    }

    /** Runs the demo; no arguments. */
    public static void main(String[] args) {
        long[] arrivals = traffic(new Random(2026));
        System.out.printf(Locale.ROOT, "Sluice algorithms demo: limit %d requests / %d s, %d requests over 60 s "
                + "(steady 2x the rate + a 150-request burst at the 30 s edge)%n%n", CAPACITY, PERIOD / 1_000_000,
                arrivals.length);
        for (Algorithm a : Algorithm.values()) {
            throughput(a); // warm the JIT for every algorithm before any is sampled
        }
        System.out.printf(Locale.ROOT, "%-24s %9s %8s %16s %16s %14s%n", "algorithm", "admitted", "denied",
                "max in any 10 s", "max in 1 window", "tryAcquire/s");
        for (Algorithm a : Algorithm.values()) {
            Limit limit = Limit.of("requests", CAPACITY, Duration.ofNanos(PERIOD * 1000), a);
            if (a == Algorithm.GCRA) {
                limit = limit.withBurst(10);
            }
            Row row = simulate(limit, arrivals);
            System.out.printf(Locale.ROOT, "%-24s %9d %8d %16d %16d %14s%n", a + (a == Algorithm.GCRA ? " (burst 10)"
                    : ""), row.admitted, row.denied, row.maxSliding, row.maxAligned, throughput(a));
        }
        System.out.println();
        System.out.println("max in any 10 s: the most grants in any sliding 10 s window (the limit is 100);");
        System.out.println("fixed window doubles at the edge by design, token bucket allows burst + refill,");
        System.out.println("the sliding-window counter approximates; sliding log is exact, and so is GCRA with burst 1");
        System.out.println("(with burst 10 it admits at most 109 = burst + capacity - 1). The sliding log pays for");
        System.out.println("exactness with state that grows with its grants: the throughput row uses a 1 ms period.");
    }

    private static long[] traffic(Random r) {
        List<Long> times = new ArrayList<>();
        long t = 0;
        while (t < 60_000_000L) {
            t += (long) (-Math.log(1 - r.nextDouble()) * 50_000); // Poisson, 20 per second
            times.add(t);
        }
        for (int i = 0; i < 150; i++) {
            times.add(29_900_000L + r.nextInt(200_000));
        }
        return times.stream().mapToLong(Long::longValue).sorted().toArray();
    }

    private record Row(long admitted, long denied, long maxSliding, long maxAligned) {
    }

    private static Row simulate(Limit limit, long[] arrivals) {
        long origin = 1_000_000_000_000L; // aligned to 10 s
        ManualTicker ticker = new ManualTicker(origin);
        try (MemoryBackend backend = MemoryBackend.builder().ticker(ticker).build();
                SluiceLimiter limiter = SluiceLimiter.builder(backend).policy(Policy.of(limit)).build()) {
            List<Long> grants = new ArrayList<>();
            long denied = 0;
            for (long at : arrivals) {
                ticker.set(origin + at);
                if (limiter.tryAcquire("demo", Cost.request()).granted()) {
                    grants.add(at);
                } else {
                    denied++;
                }
            }
            long maxSliding = 0;
            for (int i = 0, j = 0; i < grants.size(); i++) {
                while (grants.get(i) - grants.get(j) >= PERIOD) {
                    j++;
                }
                maxSliding = Math.max(maxSliding, i - j + 1);
            }
            long maxAligned = grants.stream().collect(java.util.stream.Collectors.groupingBy(g -> g / PERIOD,
                    java.util.stream.Collectors.counting())).values().stream().mapToLong(Long::longValue).max()
                    .orElse(0);
            return new Row(grants.size(), denied, maxSliding, maxAligned);
        }
    }

    private static String throughput(Algorithm a) {
        try (MemoryBackend backend = MemoryBackend.create();
                SluiceLimiter limiter = SluiceLimiter.builder(backend)
                        .policy(Policy.of(NeverDenying.limit(a))).build()) {
            Cost one = Cost.request();
            run(limiter, one, 300_000_000L);
            long start = System.nanoTime();
            long ops = run(limiter, one, 300_000_000L);
            double seconds = (System.nanoTime() - start) / 1e9;
            return String.format(Locale.ROOT, "%,.0f", ops / seconds);
        }
    }

    private static long run(SluiceLimiter limiter, Cost one, long nanos) {
        long end = System.nanoTime() + nanos;
        long ops = 0;
        while (System.nanoTime() < end) {
            for (int i = 0; i < 1000; i++) {
                limiter.tryAcquire("demo", one);
            }
            ops += 1000;
        }
        return ops;
    }
}

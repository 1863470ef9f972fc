package dev.sluice.testkit;

import dev.sluice.api.ManualTicker;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Phaser;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;

/**
 * Concurrent load in phases on a {@link ManualTicker}, for checking what limiters admit under contention.
 *
 * <p>{@code threads} workers run {@code phases} phases in lockstep. The ticker stands still during a phase: every
 * worker starts it after the coordinator read the phase's start time and finishes it before the coordinator moves the
 * ticker on by {@link PhaseAdvance#micros}. So all grants of a phase happen at one instant, and the units granted per
 * (phase, key), summed over the threads, are exactly the {@code {timeMicros, units}} pairs {@link WindowCheck} takes:
 *
 * <pre>{@code
 * Random r = new Random(3);
 * PhasedLoad.Result load = PhasedLoad.run(ticker, 8, 60, keys.length, (thread, phase, random, recorder) -> {
 *     for (int i = 0; i < 40; i++) {
 *         int k = random.nextInt(keys.length);
 *         if (limiter.tryAcquire(keys[k], Cost.request()).granted()) {
 *             recorder.granted(k, 1);
 *         }
 *     }
 * }, phase -> r.nextInt(500_000), null);
 * for (int k = 0; k < keys.length; k++) {
 *     WindowCheck.assertWithinBound(limit, load.grants(k));
 * }
 * }</pre>
 *
 * Everything is bounded: each wait for the others and the final join give up after {@value #TIMEOUT_SECONDS} s, and
 * the pool is shut down whatever happens. The first failure of a worker or of the side task ends the run for every
 * party at once and is rethrown as it was (an {@link AssertionError} stays one).
 */
public final class PhasedLoad {

    /** How long any party waits for the others, and how long the end of the run waits for each task. */
    public static final int TIMEOUT_SECONDS = 60;

    private PhasedLoad() {
    }

    /** One thread's work in one phase. */
    @FunctionalInterface
    public interface Worker {
        /**
         * Makes this thread's attempts of {@code phase} and reports every grant to {@code recorder}.
         *
         * @param random this thread's own generator, seeded with {@code thread} and kept across phases
         */
        void run(int thread, int phase, Random random, Recorder recorder) throws Exception;
    }

    /** Counts one thread's grants within the current phase. */
    @FunctionalInterface
    public interface Recorder {
        /** Adds {@code units} granted on key number {@code key} (from 0 to {@code keys - 1}). */
        void granted(int key, long units);
    }

    /** How far the coordinator moves the ticker after each phase. */
    @FunctionalInterface
    public interface PhaseAdvance {
        /** The microseconds (0 or more) to advance after {@code phase}, once every worker has finished it. */
        long micros(int phase);
    }

    /**
     * Runs the load and returns what was granted.
     *
     * @param keys how many keys the workers report grants on
     * @param sideTask if not null, run once per phase on a thread of its own, concurrently with the workers (for
     *     example housekeeping that races with them)
     * @throws TimeoutException if a party waited {@value #TIMEOUT_SECONDS} s for the others
     * @throws Exception the first exception or error a worker or the side task threw
     */
    public static Result run(ManualTicker ticker, int threads, int phases, int keys, Worker worker,
            PhaseAdvance advance, @Nullable Runnable sideTask) throws Exception {
        if (threads < 1 || phases < 1 || keys < 1) {
            throw new IllegalArgumentException("threads, phases and keys must be positive: " + threads + ", "
                    + phases + ", " + keys);
        }
        int tasks = threads + (sideTask == null ? 0 : 1);
        Phaser phaser = new Phaser(tasks + 1); // two advances per phase: its start and its end
        AtomicReference<@Nullable Throwable> failure = new AtomicReference<>();
        long[] times = new long[phases];
        long[][] units = new long[threads][phases * keys]; // a row per thread: no shared writes within a phase
        ExecutorService pool = Executors.newFixedThreadPool(tasks);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                Random random = new Random(thread);
                long[] own = units[thread];
                futures.add(pool.submit(inPhases(phaser, phases, failure, phase -> worker.run(thread, phase, random,
                        (key, n) -> own[phase * keys + Objects.checkIndex(key, keys)] += n))));
            }
            if (sideTask != null) {
                futures.add(pool.submit(inPhases(phaser, phases, failure, phase -> sideTask.run())));
            }
            try {
                for (int p = 0; p < phases; p++) {
                    times[p] = ticker.nowMicros();
                    await(phaser);
                    await(phaser);
                    ticker.advanceMicros(advance.micros(p));
                }
                for (Future<?> f : futures) {
                    f.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                }
            } catch (CancellationException | ExecutionException e) {
                rethrowFailure(failure, e);
                throw e;
            }
        } finally {
            phaser.forceTermination();
            pool.shutdownNow();
        }
        return new Result(times, units, keys);
    }

    /** What a run granted: per phase, its start time and the units granted on each key, summed over the threads. */
    public static final class Result {

        private final long[] times;
        private final long[] units; // [phase * keys + key]
        private final int keys;

        private Result(long[] times, long[][] perThread, int keys) {
            this.times = times;
            this.keys = keys;
            this.units = new long[times.length * keys];
            for (long[] row : perThread) {
                for (int i = 0; i < row.length; i++) {
                    units[i] += row[i];
                }
            }
        }

        /** The ticker's time throughout {@code phase}. */
        public long startMicros(int phase) {
            return times[phase];
        }

        /** The units granted on {@code key} in each phase, zeros included. */
        public long[] unitsPerPhase(int key) {
            Objects.checkIndex(key, keys);
            long[] out = new long[times.length];
            for (int p = 0; p < times.length; p++) {
                out[p] = units[p * keys + key];
            }
            return out;
        }

        /** The {@code {timeMicros, units}} pairs of the phases that granted something on {@code key}, in time order. */
        public List<long[]> grants(int key) {
            long[] perPhase = unitsPerPhase(key);
            List<long[]> out = new ArrayList<>();
            for (int p = 0; p < perPhase.length; p++) {
                if (perPhase[p] > 0) {
                    out.add(new long[] {times[p], perPhase[p]});
                }
            }
            return out;
        }

        /** All units granted, over every phase and key. */
        public long total() {
            long sum = 0;
            for (long u : units) {
                sum += u;
            }
            return sum;
        }
    }

    private interface PhaseBody {
        void run(int phase) throws Exception;
    }

    private static Callable<Void> inPhases(Phaser phaser, int phases, AtomicReference<@Nullable Throwable> failure,
            PhaseBody body) {
        return () -> {
            try {
                for (int p = 0; p < phases; p++) {
                    await(phaser);
                    body.run(p);
                    await(phaser);
                }
                return null;
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
                phaser.forceTermination(); // the others stop waiting now, not after the timeout
                throw e;
            }
        };
    }

    /** Arrives and waits for every other party; fails if one of them failed or did not come in time. */
    private static void await(Phaser phaser) throws InterruptedException, TimeoutException {
        if (phaser.awaitAdvanceInterruptibly(phaser.arrive(), TIMEOUT_SECONDS, TimeUnit.SECONDS) < 0) {
            throw new CancellationException("another party of the phased load failed");
        }
    }

    private static void rethrowFailure(AtomicReference<@Nullable Throwable> failure, Exception seen)
            throws Exception {
        Throwable first = failure.get();
        if (first instanceof Exception e) {
            e.addSuppressed(seen);
            throw e;
        }
        if (first instanceof Error e) {
            e.addSuppressed(seen);
            throw e;
        }
    }
}

package dev.sluice.memory;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.api.Ticker;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.core.engine.GcraCell;
import dev.sluice.core.engine.LimitState;
import dev.sluice.core.engine.PolicyEngine;
import dev.sluice.core.engine.PolicyState;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * Limiter state in this JVM. Each key's state is an immutable {@link PolicyState} replaced by one compare-and-set
 * per acquire: lock-free, no global lock, contention only between callers of the same key. A key under a policy of
 * one GCRA limit keeps its state in one {@code long} instead ({@link GcraCell}), compare-and-set in place: the same
 * decisions, without allocating a state per call.
 *
 * <p>Memory stays bounded. A key is forgotten once its state is indistinguishable from a fresh one (its bucket full,
 * its windows over), which loses nothing; a sweep finds such keys, run in the background when the number of keys has
 * doubled or a {@linkplain Builder#sweepInterval sweep interval} has passed since the last sweep (checked when a new
 * key arrives, and by a timer every interval, so that an idle backend lets go of its keys too), or on demand with
 * {@link #cleanUp()}. At most {@linkplain Builder#maxKeys maxKeys} keys are held: a new key beyond that is denied
 * with {@link Decision.Reason#KEY_LIMIT_REACHED} until keys come to rest, rather than silently resetting another
 * key's quota; until the earliest of them can come to rest, such a denial costs no sweep.
 */
public final class MemoryBackend implements LimiterBackend {

    /** A tombstone: the entry was removed from the map; whoever sees it looks the key up again. */
    private static final Object REMOVED = new Object();

    private static final VarHandle STATE;
    private static final VarHandle CELL;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(Entry.class, "state", Object.class);
            CELL = MethodHandles.lookup().findVarHandle(CellEntry.class, "cell", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final ConcurrentHashMap<String, Slot> entries = new ConcurrentHashMap<>();
    private final Ticker ticker;
    private final long maxKeys;
    private final long sweepIntervalMicros;
    private final Executor sweeper;
    private final AtomicBoolean sweeping = new AtomicBoolean();
    private volatile long nextSweepAt;
    private volatile long nextSweepSize;
    /** When the first key seen by the last sweep and not at rest then comes to rest. */
    private volatile long earliestRest = Long.MAX_VALUE;
    /**
     * When the first key inserted, refunded or moved to another policy since the last sweep began comes to rest: with
     * {@link #earliestRest}, a time before which no key can be forgotten.
     */
    private final AtomicLong insertedRest = new AtomicLong(Long.MAX_VALUE);
    private final AtomicLong sweeps = new AtomicLong();
    private final @Nullable ScheduledFuture<?> timer;
    /** The shape of the last cell created: most backends hold one policy, so its cells share one. Racy, benign. */
    private @Nullable CellShape lastShape;

    /** One key's state holder: an {@link Entry} or a {@link CellEntry}. */
    abstract static sealed class Slot permits Entry, CellEntry {
        final Policy policy;

        Slot(Policy policy) {
            this.policy = policy;
        }
    }

    /**
     * One key. {@code state} is null (fresh), {@link #REMOVED}, a {@link PolicyState}, or, when the entry's own
     * policy has a single limit and the state was written under it, the bare {@link LimitState}: one object per key
     * in the common case instead of two.
     */
    static final class Entry extends Slot {
        final boolean bare;
        volatile @Nullable Object state;

        Entry(Policy policy) {
            super(policy);
            this.bare = policy.size() == 1;
        }

        @Nullable PolicyState expand(@Nullable Object s) {
            return s instanceof LimitState ls ? new PolicyState(policy, ls) : (PolicyState) s;
        }

        @Nullable Object compact(@Nullable PolicyState s) {
            return bare && s != null && s.policy() == policy ? s.limit(0) : s;
        }
    }

    /**
     * One key under a policy that {@linkplain GcraCell#fits fits} a cell: the cell on {@code base}, valid until
     * {@code base + span}. A negative cell is retired: {@code ~cell} is its last value, and the next caller replaces
     * the entry with its successor (a cell on a new base, or an {@link Entry} under another policy). A retired cell
     * never changes again, so any caller may build the successor: the first replacement wins.
     */
    static final class CellEntry extends Slot {
        final CellShape shape;
        final long base;
        volatile long cell;

        CellEntry(Policy policy, CellShape shape, long base, long cell) {
            super(policy);
            this.shape = shape;
            this.base = base;
            this.cell = cell;
        }

        Limit limit() {
            return shape.limit;
        }

        /** Whether a cell on this base is valid at {@code now}. */
        boolean covers(long now) {
            return now >= base && now - base <= shape.span;
        }

        /** The state the (retired) cell {@code c} holds, under this entry's policy. */
        @Nullable PolicyState state(long c) {
            LimitState s = GcraCell.toState(limit(), base, c);
            return s == null ? null : new PolicyState(policy, s);
        }
    }

    /**
     * The numbers of a cell's limit that GCRA reads on every call, one hop from the entry instead of three (entry,
     * policy, limits, limit), shared by the cells of one limit.
     */
    static final class CellShape {
        final Limit limit;
        final long span;
        final long capacity;
        final long period;
        final long burst;
        final long tolerance;
        final String dimension;

        CellShape(Limit limit) {
            this.limit = limit;
            this.span = GcraCell.span(limit);
            this.capacity = limit.capacity();
            this.period = limit.periodMicros();
            this.burst = limit.burst();
            this.tolerance = GcraCell.tolerance(limit);
            this.dimension = limit.dimension();
        }
    }

    private MemoryBackend(Builder b) {
        this.ticker = b.ticker;
        this.maxKeys = b.maxKeys;
        this.sweepIntervalMicros = b.sweepIntervalMicros;
        this.sweeper = b.sweeper;
        this.nextSweepAt = ticker.nowMicros() + sweepIntervalMicros;
        this.nextSweepSize = 1024;
        // The timer never fires more often than every 10 ms, whatever the interval: it is one thread for all backends.
        this.timer = sweepIntervalMicros > 0
                ? SweepTimer.schedule(this, Math.max(10_000, sweepIntervalMicros))
                : null;
    }

    /** A backend with the defaults: the system ticker, at most 10,000,000 keys, a sweep at least every minute. */
    public static MemoryBackend create() {
        return builder().build();
    }

    /** A builder. */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Decision acquire(String key, Policy policy, Cost cost) {
        // Few bytecodes, so that the JIT inlines it into the caller: the common case of a cell under its own policy.
        Slot slot = entries.get(key);
        // One clock read per call on a known key: a retry after a lost race decides at the same instant, which only
        // ever makes it more conservative (the winner's state is at least as recent), and keeps the race window short.
        // A new key reads it again (see the slow path), as a sweep may have run since. Read after the look-up: any
        // time during the call is the call's, and the look-up's loads then overlap the clock read instead of waiting
        // behind it (benchmarks/RESULTS.md, fourteenth session: +15% on GCRA at one thread).
        long now = ticker.nowMicros();
        if (slot instanceof CellEntry c) {
            Decision d = c.policy == policy && c.covers(now) ? acquireCell(c, policy, cost, now) : null;
            return d != null ? d : acquire(key, policy, cost, now, null);
        }
        return acquire(key, policy, cost, now, slot);
    }

    /**
     * GCRA on a cell that covers {@code now}; null if the cell is retired. The limit's numbers come from the cell's
     * shape, one hop away, and a grant to a key at rest needs no division.
     */
    private static @Nullable Decision acquireCell(CellEntry e, Policy policy, Cost cost, long now) {
        CellShape shape = e.shape;
        long n = cost.units(shape.dimension);
        long scaledNow = GcraCell.scaledNow(shape.capacity, e.base, now);
        long charge = n * shape.period;
        while (true) {
            long c = e.cell;
            if (c < 0) {
                return null;
            }
            long debt = GcraCell.debt(c, scaledNow);
            if (n == 0) {
                return GcraCell.granted(policy, debt);
            }
            long after = GcraCell.debtAfter(debt, charge, shape.tolerance);
            if (after < 0) {
                return GcraCell.denied(policy, debt, n);
            }
            if (CELL.compareAndSet(e, c, scaledNow + after)) {
                return GcraCell.granted(policy, shape.burst, shape.period, shape.tolerance, debt, n, after);
            }
            backOff();
        }
    }

    /** The acquire of every other case, starting from {@code first} if not null, else from a look-up of the key. */
    private Decision acquire(String key, Policy policy, Cost cost, long now, @Nullable Slot first) {
        for (Slot slot = first != null ? first : entries.get(key); ; slot = entries.get(key)) {
            if (slot instanceof CellEntry c) {
                Decision d = onCell(key, c, policy, cost, now, false);
                if (d != null) {
                    return d;
                }
                continue;
            }
            Entry e = (Entry) slot;
            if (e == null) {
                if (entries.mappingCount() >= maxKeys && !makeRoom()) {
                    return keyLimitReached(policy);
                }
                // A sweep may have forgotten the key after this call read the clock: a new key's first state is
                // decided no earlier than the sweep's time, or a grant could land in a window the sweep saw end.
                now = Math.max(now, ticker.nowMicros());
                // A new key is inserted with its first state already computed, so a sweep never sees it fresh.
                PolicyEngine.Result r = PolicyEngine.acquire(policy, null, cost, now);
                if (r.state() == null) {
                    return r.decision();
                }
                if (entries.putIfAbsent(key, fresh(policy, r.state(), now)) == null) {
                    restsBy(r.state(), now);
                    maybeSweep();
                    return r.decision();
                }
                continue;
            }
            Object s = e.state;
            if (s == REMOVED) {
                entries.remove(key, e);
                continue;
            }
            if (e.bare && policy == e.policy && !(s instanceof PolicyState)) {
                // The common case: one limit, same policy, one object per key.
                LimitState ls = (LimitState) s;
                PolicyEngine.SingleResult r = PolicyEngine.acquireSingle(policy, ls, cost, now);
                if (r.state() == ls || STATE.compareAndSet(e, s, r.state())) {
                    return r.decision();
                }
            } else {
                PolicyState ps = e.expand(s);
                PolicyEngine.Result r = PolicyEngine.acquire(policy, ps, cost, now);
                if (r.state() == ps || STATE.compareAndSet(e, s, e.compact(r.state()))) {
                    if (ps != null && ps.policy() != policy) {
                        restsBy(r.state(), now); // moved to another policy
                    }
                    return r.decision();
                }
            }
            backOff();
        }
    }

    @Override
    public Decision refund(String key, Policy policy, Cost cost) {
        long now = ticker.nowMicros();
        while (true) {
            Slot slot = entries.get(key);
            if (slot instanceof CellEntry c) {
                Decision d = onCell(key, c, policy, cost, now, true);
                if (d != null) {
                    return d;
                }
                continue;
            }
            Entry e = (Entry) slot;
            Object s = e == null ? null : e.state;
            if (s == REMOVED) {
                entries.remove(key, e);
                continue;
            }
            PolicyState ps = e == null ? null : e.expand(s);
            PolicyEngine.Result r = PolicyEngine.refund(policy, ps, cost, now);
            if (e == null || r.state() == ps || STATE.compareAndSet(e, s, e.compact(r.state()))) {
                if (e != null && r.state() != ps) {
                    restsBy(r.state(), now);
                }
                return r.decision(); // a key with no state has nothing to give back
            }
            backOff();
        }
    }

    /**
     * An acquire or a refund on a cell: its decision if the cell is this caller's (same policy, covering {@code now})
     * and live, else null once the cell has been replaced by its successor, to look the key up again.
     */
    private @Nullable Decision onCell(String key, CellEntry c, Policy policy, Cost cost, long now, boolean refund) {
        if (c.policy == policy && c.covers(now)) {
            Decision d = refund ? refundCell(c, policy, cost, now) : acquireCell(c, policy, cost, now);
            if (d != null) {
                return d;
            }
        }
        succeed(key, c, policy, now);
        return null;
    }

    /** A refund on a cell that covers {@code now}; null if the cell is retired. */
    private @Nullable Decision refundCell(CellEntry e, Policy policy, Cost cost, long now) {
        Limit limit = e.limit();
        long n = cost.units(limit.dimension());
        long scaledNow = GcraCell.scaledNow(limit, e.base, now);
        while (true) {
            long c = e.cell;
            if (c < 0) {
                return null;
            }
            long after = GcraCell.debtAfterRefund(limit, GcraCell.debt(c, scaledNow), n);
            long next = GcraCell.cellAfterRefund(scaledNow, after);
            if (n == 0 || CELL.compareAndSet(e, c, next)) {
                if (n > 0) {
                    restsBy(GcraCell.restAt(limit, e.base, next));
                }
                return GcraCell.refunded(policy, after);
            }
            backOff();
        }
    }

    /**
     * A new entry holding {@code state}, written under {@code policy} at {@code now}: a cell if the policy fits one
     * and a cell valid now holds the state exactly, else an {@link Entry}.
     */
    private Slot fresh(Policy policy, @Nullable PolicyState state, long now) {
        if (GcraCell.fits(policy)) {
            LimitState s = state == null ? null : state.limit(0);
            long base = GcraCell.base(s, now);
            long cell = GcraCell.toCell(policy.limit(0), base, s, now);
            if (cell >= 0) {
                return new CellEntry(policy, shapeOf(policy.limit(0)), base, cell);
            }
        }
        Entry e = new Entry(policy);
        e.state = e.compact(state);
        return e;
    }

    private CellShape shapeOf(Limit limit) {
        CellShape s = lastShape;
        if (s == null || s.limit != limit) {
            s = new CellShape(limit);
            lastShape = s;
        }
        return s;
    }

    /**
     * Retires {@code e} if it is not yet (a caller under another policy, or a time outside its span), and replaces it
     * with its successor: its state carried to {@code policy} at {@code now}, in a cell on a base of {@code now} or in
     * an {@link Entry}. Any caller may do it; a caller that loses the replacement finds the winner's entry.
     */
    private void succeed(String key, CellEntry e, Policy policy, long now) {
        long c = e.cell;
        if (c >= 0) {
            if (!CELL.compareAndSet(e, c, ~c)) {
                return; // the cell moved on: look again
            }
        } else {
            c = ~c;
        }
        PolicyState state = PolicyEngine.migrate(e.state(c), policy, now);
        if (entries.replace(key, e, fresh(policy, state, now)) && e.policy != policy) {
            restsBy(state, now);
        }
    }

    /**
     * After a lost compare-and-set, steps aside before retrying with a minimal park (tens of microseconds on Linux).
     * Callers of one hot key then take turns, each running uncontended for a while, instead of bouncing the key's
     * cache line between cores on every attempt: throughput stays near the single-thread rate. The price is a rare
     * extra delay of that order for the caller that lost, negligible next to an LLM call.
     */
    private static void backOff() {
        LockSupport.parkNanos(1);
    }

    /** The holder of {@code key}'s state, or null: for tests in this package. */
    @Nullable Slot slot(String key) {
        return entries.get(key);
    }

    @Override
    public long liveKeys() {
        return entries.mappingCount();
    }

    /** How many sweeps have run: for tests in this package. */
    long sweeps() {
        return sweeps.get();
    }

    /**
     * Forgets every key whose state is at rest now, and returns how many keys remain. Runs on the calling thread;
     * concurrent acquires go on meanwhile.
     */
    public long cleanUp() {
        sweeping.set(true);
        try {
            sweep();
        } finally {
            sweeping.set(false);
        }
        return entries.mappingCount();
    }

    /** Drops every key and stops this backend's sweep timer. */
    @Override
    public void close() {
        if (timer != null) {
            timer.cancel(false);
        }
        entries.clear();
    }

    /**
     * Sweeps at once when the map is full, unless no key can have come to rest since the last sweep (which would
     * free nothing and cost a pass over every key); whether there is room for a new key now.
     */
    private boolean makeRoom() {
        if (ticker.nowMicros() >= earliestRest() && sweeping.compareAndSet(false, true)) {
            try {
                sweep();
            } finally {
                sweeping.set(false);
            }
        }
        return entries.mappingCount() < maxKeys;
    }

    private long earliestRest() {
        return Math.min(earliestRest, insertedRest.get());
    }

    /** Notes that a key inserted, refunded or moved to another policy comes to rest at {@code rest}. */
    private void restsBy(long rest) {
        if (rest < insertedRest.get()) {
            insertedRest.accumulateAndGet(rest, Math::min);
        }
    }

    /** {@link #restsBy(long)} for a key left holding {@code state} at {@code now} (null: at rest now). */
    private void restsBy(@Nullable PolicyState state, long now) {
        restsBy(state == null ? now : PolicyEngine.restAt(state));
    }

    private Decision keyLimitReached(Policy policy) {
        long now = ticker.nowMicros();
        long rest = earliestRest();
        long wait = rest == Long.MAX_VALUE ? sweepIntervalMicros : rest - now;
        return Decision.unavailable(policy, Decision.Reason.KEY_LIMIT_REACHED, Math.max(1000, wait));
    }

    private void maybeSweep() {
        boolean due = entries.mappingCount() >= nextSweepSize || ticker.nowMicros() >= nextSweepAt;
        if (due && sweeping.compareAndSet(false, true)) {
            try {
                sweeper.execute(() -> {
                    try {
                        sweep();
                    } finally {
                        sweeping.set(false);
                    }
                });
            } catch (RuntimeException rejected) {
                sweeping.set(false);
            }
        }
    }

    /** Caller holds the {@code sweeping} flag. */
    private void sweep() {
        sweeps.incrementAndGet();
        // Reset before the pass: a key inserted before it is seen by the pass, one inserted during it notes its rest
        // after the reset.
        insertedRest.set(Long.MAX_VALUE);
        long now = ticker.nowMicros();
        long earliest = Long.MAX_VALUE;
        for (Map.Entry<String, Slot> me : entries.entrySet()) {
            if (me.getValue() instanceof CellEntry c) {
                long rest = sweep(me.getKey(), c, now);
                if (rest > now) {
                    earliest = Math.min(earliest, rest);
                }
                continue;
            }
            Entry e = (Entry) me.getValue();
            Object s = e.state;
            if (s == REMOVED) {
                entries.remove(me.getKey(), e);
                continue;
            }
            long rest = s instanceof LimitState ls ? PolicyEngine.restAt(e.policy.limit(0), ls)
                    : PolicyEngine.restAt((PolicyState) s);
            if (rest <= now) {
                if (STATE.compareAndSet(e, s, REMOVED)) {
                    entries.remove(me.getKey(), e);
                }
            } else {
                earliest = Math.min(earliest, rest);
            }
        }
        earliestRest = earliest;
        nextSweepAt = now + sweepIntervalMicros;
        nextSweepSize = Math.max(1024, entries.mappingCount() * 2);
    }

    /**
     * The one daemon thread, shared by every backend, that checks each backend's sweep interval even when no new key
     * arrives. It holds a backend weakly: a backend no longer used is collected, and its task cancels itself.
     */
    private static final class SweepTimer implements Runnable {
        private static final ScheduledThreadPoolExecutor EXECUTOR = executor();

        private final WeakReference<MemoryBackend> backend;
        private volatile @Nullable ScheduledFuture<?> self;

        private SweepTimer(MemoryBackend backend) {
            this.backend = new WeakReference<>(backend);
        }

        static ScheduledFuture<?> schedule(MemoryBackend backend, long intervalMicros) {
            SweepTimer task = new SweepTimer(backend);
            ScheduledFuture<?> f = EXECUTOR.scheduleWithFixedDelay(task, intervalMicros, intervalMicros,
                    TimeUnit.MICROSECONDS);
            task.self = f;
            return f;
        }

        private static ScheduledThreadPoolExecutor executor() {
            ScheduledThreadPoolExecutor e = new ScheduledThreadPoolExecutor(1, r -> {
                Thread t = new Thread(r, "sluice-memory-sweep-timer");
                t.setDaemon(true);
                return t;
            });
            e.setRemoveOnCancelPolicy(true);
            return e;
        }

        @Override
        public void run() {
            MemoryBackend b = backend.get();
            if (b == null) {
                ScheduledFuture<?> f = self;
                if (f != null) {
                    f.cancel(false);
                }
                return;
            }
            if (!b.entries.isEmpty()) {
                b.maybeSweep();
            }
        }
    }

    /** Removes a cell at rest at {@code now} (retiring it first); returns when it comes to rest otherwise. */
    private long sweep(String key, CellEntry e, long now) {
        long c = e.cell;
        long rest = GcraCell.restAt(e.limit(), e.base, c < 0 ? ~c : c);
        if (rest <= now && (c < 0 || CELL.compareAndSet(e, c, ~c))) {
            entries.remove(key, e);
        }
        return rest;
    }

    /** Builds a {@link MemoryBackend}. */
    public static final class Builder {
        private Ticker ticker = Ticker.system();
        private long maxKeys = 10_000_000;
        private long sweepIntervalMicros = 60_000_000;
        private Executor sweeper = ForkJoinPool.commonPool();

        private Builder() {
        }

        /** The clock; tests pass a {@link dev.sluice.api.ManualTicker}. */
        public Builder ticker(Ticker ticker) {
            this.ticker = Objects.requireNonNull(ticker, "ticker");
            return this;
        }

        /**
         * The most keys held at once (default 10,000,000, roughly 150 bytes each for a one-limit policy).
         *
         * @throws IllegalArgumentException if not positive
         */
        public Builder maxKeys(long maxKeys) {
            if (maxKeys < 1) {
                throw new IllegalArgumentException("maxKeys must be positive, was " + maxKeys);
            }
            this.maxKeys = maxKeys;
            return this;
        }

        /**
         * How often, at most, new keys trigger a sweep for keys at rest even if the key count has not doubled, and how
         * often a timer checks it when no new key arrives (default one minute; zero sweeps on every new key and starts
         * no timer, for tests).
         *
         * @throws IllegalArgumentException if negative
         */
        public Builder sweepInterval(Duration interval) {
            if (interval == null || interval.isNegative()) {
                throw new IllegalArgumentException("sweepInterval must be zero or positive, was " + interval);
            }
            this.sweepIntervalMicros = interval.toNanos() / 1000;
            return this;
        }

        /**
         * Where background sweeps run (default the common fork-join pool; {@code Runnable::run} for tests). It must run
         * every task it accepts or throw: a task dropped silently would leave the next sweep waiting for it forever.
         */
        public Builder sweeper(Executor executor) {
            this.sweeper = Objects.requireNonNull(executor, "executor");
            return this;
        }

        /** The backend. */
        public MemoryBackend build() {
            return new MemoryBackend(this);
        }
    }
}

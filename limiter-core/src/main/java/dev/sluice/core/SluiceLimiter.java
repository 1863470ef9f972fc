package dev.sluice.core;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;
import dev.sluice.api.PolicyResolver;
import dev.sluice.api.RateLimiter;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.core.engine.PolicyEngine;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * The {@link RateLimiter} of Sluice, on any {@link LimiterBackend}. Build one with {@link #builder(LimiterBackend)}:
 *
 * <pre>{@code
 * RateLimiter limiter = SluiceLimiter.builder(MemoryBackend.create())
 *         .name("openai")
 *         .policy(Policy.of(Limit.perMinute("requests", 15), Limit.perMinute("tokens", 1_000_000)))
 *         .build();
 * }</pre>
 *
 * <p>Waiting never polls: a blocking acquire sleeps for the exact predicted wait, an async one schedules one retry at
 * that moment on a shared scheduler, unless a refund wakes it earlier (below). If another caller took the quota
 * meanwhile, it waits again, each time for the new exact wait, until its deadline. {@code maxWait} counts from the
 * first refusal. A call granted (or refused for good) at its first look reads no clock and joins no queue, so an
 * acquire that need not wait costs what a {@code tryAcquire} does.
 *
 * <p>A {@link #refund} through this limiter wakes the key's oldest waiter in it at once. A woken waiter that leaves
 * (granted, out of time, cancelled, interrupted or failed) wakes the next oldest; one that does not fit stops there
 * and waits for its own predicted moment, and the waiters behind it for theirs. So quota given back, such as the
 * unused part of an LLM call's token estimate, goes to the calls already waiting, oldest first, rather than waiting
 * for their predicted moments. It is not reserved for them: a {@code tryAcquire} or a new acquire may take it first.
 * Waiters in other limiters or other processes sharing the backend are not woken; they retry at their predicted
 * moment. A blocking acquire is woken this way with the {@linkplain WaitScheduler#system() system scheduler}; with
 * another scheduler it sleeps through its predicted wait (and holds up the wakes of the waiters behind it meanwhile).
 *
 * <p>An async acquire's first look runs on the caller's thread (and looks again there at once if a refund came
 * while it looked); with the default scheduler, each retry runs on a shared pool of daemon threads, which also runs
 * the future's non-async dependents when a retry completes it. Use the {@code ...Async} forms of
 * {@link CompletableFuture} for long work after a grant.
 */
public final class SluiceLimiter implements RateLimiter {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,64}");

    private final String name;
    private final LimiterBackend backend;
    private final PolicyResolver policies;
    private final WaitScheduler scheduler;
    private final LimiterObserver observer;
    /** Racy on purpose: a stale or missing value only costs a re-validation; records publish safely. */
    private @Nullable Validated lastValidated;
    private static final System.Logger LOG = System.getLogger(SluiceLimiter.class.getName());
    /** Stripes of the refund count: a refund makes only acquires of keys on its stripe look twice. */
    private static final int REFUND_STRIPES = 64;

    /**
     * Each key's acquires in progress, oldest first; a key's entry goes with its last one. Each set is read and changed
     * only inside the map's {@code compute} methods, under the key's lock.
     */
    private final ConcurrentHashMap<String, LinkedHashSet<Waiter>> waiters = new ConcurrentHashMap<>();
    /**
     * Refunds through this limiter so far, by {@link #stripe} of their key. A call refused at its first look joins its
     * key's queue only then, and looks again at once if its key's stripe moved since before that look: the refund's
     * wake may have found the queue without it.
     */
    private final AtomicLongArray refunds = new AtomicLongArray(REFUND_STRIPES);
    private final java.util.concurrent.CopyOnWriteArrayList<Consumer<String>> refundListeners =
            new java.util.concurrent.CopyOnWriteArrayList<>();
    private final AtomicInteger waiting = new AtomicInteger();

    private SluiceLimiter(Builder b) {
        this.name = b.name;
        this.backend = b.backend;
        if (b.policies == null) {
            throw new IllegalStateException("a policy or a policy resolver is required");
        }
        this.policies = b.policies;
        this.scheduler = b.scheduler;
        LimiterObserver o = b.observer;
        // the caller's own metrics of this limiter, already on this registry: another set would count every call twice
        boolean counted = o instanceof LimiterMetrics m && b.registry != null && m.boundTo(b.registry)
                && m.limiter().equals(name);
        if (b.registry != null && !counted) {
            LimiterMetrics metrics = new LimiterMetrics(name, backend::liveKeys);
            metrics.bindTo(b.registry);
            o = o == LimiterObserver.NONE ? metrics : new TeeObserver(o, metrics);
        }
        this.observer = o;
    }

    /** A builder of a limiter on {@code backend}. */
    public static Builder builder(LimiterBackend backend) {
        return new Builder(Objects.requireNonNull(backend, "backend"));
    }

    /** This limiter's name, used as the {@code limiter} metric tag. */
    public String name() {
        return name;
    }

    @Override
    public Decision tryAcquire(String key, Cost cost) {
        Policy policy = resolve(key, cost);
        Decision d = decide(key, policy, cost);
        observer.onDecision(policy, cost, d, -1);
        return d;
    }

    @Override
    public Decision acquire(String key, Cost cost, Duration maxWait) throws InterruptedException {
        long budget = waitMicros(maxWait);
        Policy policy = resolve(key, cost);
        if (Thread.interrupted()) {
            throw new InterruptedException("interrupted before acquiring; nothing was charged");
        }
        long refundsSeen = refunds.get(stripe(key));
        Decision d = decide(key, policy, cost);
        Decision done = doneWaiting(policy, cost, d, budget, 0);
        if (done != null) {
            return done; // the common case: decided at once, with no clock read and no queue to join
        }
        long start = scheduler.nowMicros(); // the wait starts at the first refusal
        BlockingWaiter waiter = new BlockingWaiter();
        enter(key, waiter);
        try {
            if (refunds.get(stripe(key)) == refundsSeen) { // else a refund may have passed before this call joined: look again
                sleep(waiter, 0, d.retryAfterMicros());
            }
            while (true) {
                if (Thread.interrupted()) {
                    throw new InterruptedException("interrupted before acquiring; nothing was charged");
                }
                int seen = waiter.wakes.get();
                d = decide(key, policy, cost);
                done = doneWaiting(policy, cost, d, budget, scheduler.nowMicros() - start);
                if (done != null) {
                    return done;
                }
                sleep(waiter, seen, d.retryAfterMicros());
            }
        } finally {
            leave(key, waiter);
        }
    }

    /**
     * The decision an acquire returns after look {@code d} (observed), having {@code waited} so far, or null if it
     * must wait and may: refused for now, and the predicted wait fits what is left of {@code budget}.
     */
    private @Nullable Decision doneWaiting(Policy policy, Cost cost, Decision d, long budget, long waited) {
        if (d.granted() || d.reason() != Decision.Reason.RATE_LIMITED) {
            observer.onDecision(policy, cost, d, waited);
            return d;
        }
        if (d.retryAfterMicros() > budget - waited) {
            Decision refused = d.asDeadlineExceeded();
            observer.onDecision(policy, cost, refused, waited);
            return refused;
        }
        return null;
    }

    /** Sleeps {@code micros}, or less if a refund wakes {@code waiter} (system scheduler only). */
    private void sleep(BlockingWaiter waiter, int seen, long micros) throws InterruptedException {
        if (scheduler != WaitScheduler.system()) {
            scheduler.sleepMicros(micros);
            return;
        }
        long deadline = System.nanoTime() + (micros > Long.MAX_VALUE / 2000 ? Long.MAX_VALUE / 2 : micros * 1000);
        while (waiter.wakes.get() == seen) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return;
            }
            LockSupport.parkNanos(this, left);
            if (Thread.interrupted()) {
                throw new InterruptedException("interrupted while waiting; nothing was charged");
            }
        }
    }

    @Override
    public CompletableFuture<Decision> acquireAsync(String key, Cost cost, Duration maxWait) {
        long budget = waitMicros(maxWait);
        Policy policy = resolve(key, cost);
        long refundsSeen = refunds.get(stripe(key));
        Decision d;
        try {
            d = decide(key, policy, cost);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        Decision done = doneWaiting(policy, cost, d, budget, 0);
        if (done != null) {
            return CompletableFuture.completedFuture(done); // the common case: no clock read, no queue to join
        }
        AsyncAcquire a = new AsyncAcquire(key, policy, cost, budget, scheduler.nowMicros());
        enter(key, a);
        a.future.whenComplete((x, e) -> leave(key, a)); // for a cancellation; every other end leaves first
        // a refund may have passed before it joined, or one may wake it as it schedules: then look again now
        if (refunds.get(stripe(key)) != refundsSeen || !a.schedule(d.retryAfterMicros(), 0)) {
            a.run();
        }
        return a.future;
    }

    /** Gives back {@code cost} and wakes the key's oldest waiter in this limiter (see the class comment). */
    @Override
    public Decision refund(String key, Cost cost) {
        return giveBack(key, resolve(key, cost), cost);
    }

    private Decision giveBack(String key, Policy policy, Cost cost) {
        Decision d = backend.refund(key, policy, cost);
        observer.onRefund(policy, cost);
        refunds.incrementAndGet(stripe(key)); // after the refund, before the wake: see acquire
        wakeOldest(key);
        for (Consumer<String> l : refundListeners) {
            try {
                l.accept(key);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "limiter " + name + ": a refund listener failed", e);
            }
        }
        return d;
    }

    /**
     * Calls {@code listener} with the key of each refund through this limiter, on the refunding thread, after the
     * refund and its wake: for callers that wait on their own (such as {@link dev.sluice.core.queue.Dispatcher}) to
     * look again at once. Keep it short; an exception it throws is logged and ignored.
     *
     * @return closing it removes the listener
     */
    public AutoCloseable onRefund(Consumer<String> listener) {
        Objects.requireNonNull(listener, "listener");
        refundListeners.add(listener);
        return () -> refundListeners.remove(listener);
    }

    /**
     * Calls of this limiter now waiting for quota in {@link #acquire} or {@link #acquireAsync}, on every key: those
     * refused at their first look and not yet done. A call leaves before its future completes or its {@code acquire}
     * returns.
     */
    public int waiting() {
        return waiting.get();
    }

    /** Does nothing: the backend and the scheduler belong to whoever built them. */
    @Override
    public void close() {
    }

    private void enter(String key, Waiter w) {
        waiters.compute(key, (k, q) -> {
            LinkedHashSet<Waiter> queue = q == null ? new LinkedHashSet<>(4) : q;
            queue.add(w);
            return queue;
        });
        waiting.incrementAndGet();
    }

    /**
     * Takes {@code w} out of its key's queue, once; if it was ever woken, wakes the next oldest, so a wake it did not
     * use to be granted (cancelled, out of time, failed) or that may have left room behind its grant is passed on.
     */
    private void leave(String key, Waiter w) {
        boolean[] left = new boolean[1];
        waiters.computeIfPresent(key, (k, q) -> {
            left[0] = q.remove(w);
            return q.isEmpty() ? null : q;
        });
        if (left[0]) {
            waiting.decrementAndGet();
            if (w.wakes.get() > 0) {
                wakeOldest(key);
            }
        }
    }

    /**
     * Wakes the oldest waiter of {@code key}, counting the wake under the key's lock: a waiter leaving at the same
     * moment then either is no longer the oldest or sees the wake and passes it on.
     */
    private void wakeOldest(String key) {
        if (waiters.get(key) == null) {
            return;
        }
        Waiter[] oldest = new Waiter[1];
        waiters.computeIfPresent(key, (k, q) -> {
            Iterator<Waiter> it = q.iterator();
            if (it.hasNext()) {
                oldest[0] = it.next();
                oldest[0].wakes.incrementAndGet();
            }
            return q;
        });
        if (oldest[0] != null) {
            oldest[0].wake();
        }
    }

    /** An acquire in progress, which a refund can wake. */
    private abstract static class Waiter {
        /** How many times it was woken; a waiter compares it before and after a look at the backend. */
        final AtomicInteger wakes = new AtomicInteger();

        /** Acts on a wake already counted in {@link #wakes}. */
        abstract void wake();
    }

    private static final class BlockingWaiter extends Waiter {
        private final Thread thread = Thread.currentThread();

        @Override
        void wake() {
            LockSupport.unpark(thread);
        }
    }

    private Decision decide(String key, Policy policy, Cost cost) {
        Decision d = backend.acquire(key, policy, cost);
        if (policy.shadow() && !d.granted() && d.reason() == Decision.Reason.RATE_LIMITED) {
            return d.asShadow();
        }
        return d;
    }

    private Policy resolve(String key, Cost cost) {
        if (key == null || key.isEmpty()) {
            throw new IllegalArgumentException("key must not be " + (key == null ? "null" : "empty"));
        }
        if (cost == null) {
            throw new IllegalArgumentException("cost must not be null");
        }
        Policy policy = policies.policyFor(key);
        if (policy == null) {
            throw new IllegalArgumentException("no policy for key (the resolver returned null)");
        }
        Validated last = lastValidated;
        if (last == null || last.policy != policy || last.cost != cost) {
            PolicyEngine.validate(policy, cost);
            lastValidated = new Validated(policy, cost);
        }
        return policy;
    }

    /** The last (policy, cost) pair that passed validation: most callers repeat the same constant pair. */
    private record Validated(Policy policy, Cost cost) {
    }

    /** The stripe of {@link #refunds} that counts {@code key}'s refunds (and those of the keys sharing it). */
    private static int stripe(String key) {
        int h = key.hashCode();
        return (h ^ (h >>> 16)) & (REFUND_STRIPES - 1);
    }

    private static long waitMicros(Duration maxWait) {
        if (maxWait == null || maxWait.isNegative()) {
            throw new IllegalArgumentException("maxWait must be zero or positive, was " + maxWait);
        }
        try {
            return maxWait.toNanos() / 1000;
        } catch (ArithmeticException tooLong) {
            return Long.MAX_VALUE / 2;
        }
    }

    /**
     * One async acquire: attempts now, then once at each predicted moment, or at once when a refund wakes it, until
     * granted or out of time.
     */
    private final class AsyncAcquire extends Waiter implements Runnable {
        final CompletableFuture<Decision> future = new CompletableFuture<>();
        final String key;
        final Policy policy;
        final Cost cost;
        final long budget;
        final long start;
        /** The scheduled retry; set and replaced under this object's lock. */
        private @Nullable Future<?> pending;

        AsyncAcquire(String key, Policy policy, Cost cost, long budget, long start) {
            this.key = key;
            this.policy = policy;
            this.cost = cost;
            this.budget = budget;
            this.start = start;
            future.whenComplete((d, e) -> {
                if (future.isCancelled()) {
                    synchronized (this) {
                        if (pending != null) {
                            pending.cancel(false);
                        }
                    }
                }
            });
        }

        @Override
        public void run() {
            while (true) {
                if (future.isDone()) {
                    return;
                }
                int seen = wakes.get();
                Decision d;
                try {
                    d = decide(key, policy, cost);
                } catch (Throwable e) {
                    fail(e);
                    if (e instanceof Error error) {
                        throw error;
                    }
                    return;
                }
                long waited = scheduler.nowMicros() - start;
                if (d.granted() || d.reason() != Decision.Reason.RATE_LIMITED) {
                    leave(key, this);
                    if (!future.complete(d) && d.reason() == Decision.Reason.GRANTED) {
                        giveBack(key, policy, cost); // cancelled while we were granted: give it back
                    } else {
                        observer.onDecision(policy, cost, d, waited);
                    }
                    return;
                }
                if (d.retryAfterMicros() > budget - waited) {
                    Decision refused = d.asDeadlineExceeded();
                    leave(key, this);
                    if (future.complete(refused)) {
                        observer.onDecision(policy, cost, refused, waited);
                    }
                    return;
                }
                if (schedule(d.retryAfterMicros(), seen)) {
                    return;
                }
                // woken by a refund while it looked: look again now instead of at the predicted moment
            }
        }

        /**
         * Schedules the next look in {@code micros}, or fails the future if the scheduler refuses; false if a wake
         * came since the wake count was {@code seen}, to look again now instead.
         */
        boolean schedule(long micros, int seen) {
            Throwable refusedSchedule = null;
            synchronized (this) {
                try {
                    pending = scheduler.schedule(this, micros);
                } catch (Throwable e) {
                    refusedSchedule = e; // a scheduler that refuses (shut down): fail, never hang
                }
                if (refusedSchedule == null) {
                    if (future.isCancelled()) {
                        pending.cancel(false);
                        return true;
                    }
                    if (wakes.get() == seen || !pending.cancel(false)) {
                        return true;
                    }
                }
            }
            if (refusedSchedule != null) {
                fail(refusedSchedule);
                return true;
            }
            return false;
        }

        /** Leaves the queue, then fails the future (outside any lock: its dependents run now). */
        private void fail(Throwable e) {
            leave(key, this);
            future.completeExceptionally(e);
        }

        @Override
        void wake() {
            Throwable refusedSchedule = null;
            synchronized (this) {
                if (pending == null || future.isDone() || !pending.cancel(false)) {
                    return; // not scheduled yet, or running: it sees the new count before scheduling again
                }
                try {
                    pending = scheduler.schedule(this, 0);
                } catch (Throwable e) {
                    refusedSchedule = e;
                }
            }
            if (refusedSchedule != null) {
                fail(refusedSchedule);
            }
        }
    }

    /** Builds a {@link SluiceLimiter}. */
    public static final class Builder {
        private final LimiterBackend backend;
        private String name = "default";
        private @Nullable PolicyResolver policies;
        private WaitScheduler scheduler = WaitScheduler.system();
        private LimiterObserver observer = LimiterObserver.NONE;
        private @Nullable MeterRegistry registry;

        private Builder(LimiterBackend backend) {
            this.backend = backend;
        }

        /**
         * The limiter's name, the {@code limiter} tag of its metrics.
         *
         * @throws IllegalArgumentException unless 1-64 characters of {@code [A-Za-z0-9_.-]}
         */
        public Builder name(String name) {
            if (name == null || !NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("name must be 1-64 characters of [A-Za-z0-9_.-], was " + name);
            }
            this.name = name;
            return this;
        }

        /** The same policy for every key. */
        public Builder policy(Policy policy) {
            this.policies = PolicyResolver.fixed(policy);
            return this;
        }

        /** A policy per key (per tenant, per model...), which may change over time. */
        public Builder policies(PolicyResolver resolver) {
            this.policies = Objects.requireNonNull(resolver, "resolver");
            return this;
        }

        /** Where waits happen; the default is {@link WaitScheduler#system()}. */
        public Builder scheduler(WaitScheduler scheduler) {
            this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
            return this;
        }

        /** Told of every decision. */
        public Builder observer(LimiterObserver observer) {
            this.observer = Objects.requireNonNull(observer, "observer");
            return this;
        }

        /** Records {@link LimiterMetrics} for this limiter in {@code registry}. */
        public Builder meterRegistry(MeterRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "registry");
            return this;
        }

        /**
         * The limiter.
         *
         * @throws IllegalStateException if no policy was given
         */
        public SluiceLimiter build() {
            return new SluiceLimiter(this);
        }
    }

    private record TeeObserver(LimiterObserver a, LimiterObserver b) implements LimiterObserver {
        @Override
        public void onDecision(Policy policy, Cost cost, Decision decision, long waitedMicros) {
            a.onDecision(policy, cost, decision, waitedMicros);
            b.onDecision(policy, cost, decision, waitedMicros);
        }

        @Override
        public void onRefund(Policy policy, Cost cost) {
            a.onRefund(policy, cost);
            b.onRefund(policy, cost);
        }
    }
}

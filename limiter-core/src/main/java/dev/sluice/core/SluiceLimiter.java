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
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
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
 * that moment on a shared scheduler. Only if another caller took the quota meanwhile does it wait again, each time
 * for the new exact wait, until its deadline.
 *
 * <p>An async acquire's first attempt runs on the caller's thread; with the default scheduler, each retry runs on a
 * shared pool of daemon threads, which also runs the future's non-async dependents when a retry completes it. Use the
 * {@code ...Async} forms of {@link CompletableFuture} for long work after a grant.
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
        long start = scheduler.nowMicros();
        while (true) {
            if (Thread.interrupted()) {
                throw new InterruptedException("interrupted before acquiring; nothing was charged");
            }
            Decision d = decide(key, policy, cost);
            long waited = scheduler.nowMicros() - start;
            if (d.granted() || d.reason() != Decision.Reason.RATE_LIMITED) {
                observer.onDecision(policy, cost, d, waited);
                return d;
            }
            if (d.retryAfterMicros() > budget - waited) {
                Decision refused = d.asDeadlineExceeded();
                observer.onDecision(policy, cost, refused, waited);
                return refused;
            }
            scheduler.sleepMicros(d.retryAfterMicros());
        }
    }

    @Override
    public CompletableFuture<Decision> acquireAsync(String key, Cost cost, Duration maxWait) {
        long budget = waitMicros(maxWait);
        Policy policy = resolve(key, cost);
        AsyncAcquire a = new AsyncAcquire(key, policy, cost, budget, scheduler.nowMicros());
        a.run();
        return a.future;
    }

    @Override
    public Decision refund(String key, Cost cost) {
        Policy policy = resolve(key, cost);
        Decision d = backend.refund(key, policy, cost);
        observer.onRefund(policy, cost);
        return d;
    }

    /** Does nothing: the backend and the scheduler belong to whoever built them. */
    @Override
    public void close() {
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

    /** One async acquire: attempts now, then once at each predicted moment, until granted or out of time. */
    private final class AsyncAcquire implements Runnable {
        final CompletableFuture<Decision> future = new CompletableFuture<>();
        final String key;
        final Policy policy;
        final Cost cost;
        final long budget;
        final long start;
        volatile @Nullable Future<?> pending;

        AsyncAcquire(String key, Policy policy, Cost cost, long budget, long start) {
            this.key = key;
            this.policy = policy;
            this.cost = cost;
            this.budget = budget;
            this.start = start;
            future.whenComplete((d, e) -> {
                Future<?> p = pending;
                if (future.isCancelled() && p != null) {
                    p.cancel(false);
                }
            });
        }

        @Override
        public void run() {
            if (future.isDone()) {
                return;
            }
            Decision d;
            try {
                d = decide(key, policy, cost);
            } catch (RuntimeException e) {
                future.completeExceptionally(e);
                return;
            }
            long waited = scheduler.nowMicros() - start;
            if (d.granted() || d.reason() != Decision.Reason.RATE_LIMITED) {
                if (!future.complete(d) && d.reason() == Decision.Reason.GRANTED) {
                    backend.refund(key, policy, cost); // cancelled while we were granted: give it back
                    observer.onRefund(policy, cost);
                } else {
                    observer.onDecision(policy, cost, d, waited);
                }
                return;
            }
            if (d.retryAfterMicros() > budget - waited) {
                Decision refused = d.asDeadlineExceeded();
                if (future.complete(refused)) {
                    observer.onDecision(policy, cost, refused, waited);
                }
                return;
            }
            try {
                pending = scheduler.schedule(this, d.retryAfterMicros());
            } catch (RuntimeException e) {
                future.completeExceptionally(e); // a scheduler that refuses (shut down): fail, never hang
                return;
            }
            if (future.isCancelled()) {
                Future<?> p = pending;
                if (p != null) {
                    p.cancel(false);
                }
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

package dev.sluice.governor;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.api.RateLimiter;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.core.SluiceLimiter;
import io.micrometer.core.instrument.MeterRegistry;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Keeps LLM calls inside their providers' limits. For each call it:
 *
 * <ol>
 *   <li>estimates the prompt ({@link TokenEstimator}) and reserves, atomically on every dimension of the chosen
 *       key's policy, 1 request, prompt + {@code max_tokens} tokens (also input and output tokens where the provider
 *       splits them) and 1 concurrency lease, waiting for quota if needed;</li>
 *   <li>picks, among the model's key pool, the key with the most quota left that is not cooling down;</li>
 *   <li>sends the attempt through the caller's {@link Upstream};</li>
 *   <li>settles: refunds what was reserved but not used, charges what was used beyond the reservation, releases
 *       the lease; believes the provider's limit and remaining headers when they say less than Sluice thinks;</li>
 *   <li>on a 429, puts the key into a cooldown shared through the {@link CacheStore} (every instance on the same
 *       store honours it), and retries with exponential backoff and full jitter, never before the cooldown ends, at
 *       most {@code maxAttempts} attempts in all; 400, 401, 403 and daily-quota refusals are not retried (a daily
 *       refusal moves on to another key of the pool if one is available).</li>
 * </ol>
 *
 * <pre>{@code
 * Governor governor = Governor.builder(RedisBackend.builder(redisson).build())
 *         .profiles(ProviderProfiles.builtIn())
 *         .pool("llama-3.1-8b-instant", ProviderKey.of("groq", System.getenv("GROQ_KEY")))
 *         .cooldownStore(RedisCacheStore.builder(redisson).build())
 *         .build();
 * GovernedResponse r = governor.call(ChatRequest.fromOpenAiJson(body), attempt -> send(attempt));
 * }</pre>
 *
 * <p>Every method is thread-safe; {@link #callAsync} never blocks the caller's thread for a wait (waits are scheduled),
 * and each limiter step, one backend round trip, runs on the governor's own worker threads.
 */
public final class Governor implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger("dev.sluice.governor");
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    /** How often a call waiting for a concurrency lease looks again for releases by other instances. */
    private static final long LEASE_RECHECK_MICROS = 25_000;
    /** How soon a call looks again when the backend could not decide. */
    private static final long BACKEND_RECHECK_MICROS = 50_000;

    private final String name;
    private final String namespace;
    private final RateLimiter limiter;
    private final Map<String, List<Slot>> pools;
    private final Map<String, Slot> slots = new ConcurrentHashMap<>();
    private final SharedCooldowns cooldowns;
    private final TokenEstimator estimator = new TokenEstimator();
    private final ScheduledExecutorService scheduler;
    private final ExecutorService blocking;
    /** Calls whose result is not complete yet: {@link #close()} fails them. */
    private final Set<Call> open = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;
    private final int maxAttempts;
    private final Duration backoffBase;
    private final Duration backoffCap;
    private final Duration maxWait;
    private final Stats stats = new Stats();

    private Governor(Builder b) {
        this.name = b.name;
        this.namespace = b.namespace;
        this.cooldowns = new SharedCooldowns(b.cooldownStore);
        this.maxAttempts = b.maxAttempts;
        this.backoffBase = b.backoffBase;
        this.backoffCap = b.backoffCap;
        this.maxWait = b.maxWait;
        ProviderProfiles profiles = Objects.requireNonNull(b.profiles, "profiles are required");
        Map<String, List<Slot>> p = new LinkedHashMap<>();
        b.pools.forEach((model, keys) -> {
            List<Slot> list = new ArrayList<>();
            for (ProviderKey k : keys) {
                Slot s = new Slot(model, k, profiles.model(k.provider(), model));
                slots.put(s.limiterKey, s);
                list.add(s);
            }
            p.put(model, List.copyOf(list));
        });
        this.pools = p;
        SluiceLimiter.Builder lb = SluiceLimiter.builder(b.backend).name(name).policies(key -> {
            Slot s = slots.get(key);
            if (s == null) {
                throw new IllegalArgumentException("not a governor key: " + key);
            }
            return s.policy;
        });
        if (b.registry != null) {
            lb.meterRegistry(b.registry);
        }
        this.limiter = lb.build();
        ScheduledThreadPoolExecutor timers = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "sluice-governor-" + name);
            t.setDaemon(true);
            return t;
        });
        timers.setRemoveOnCancelPolicy(true); // a call woken early does not stay in the timer queue until its moment
        this.scheduler = timers;
        AtomicInteger n = new AtomicInteger();
        this.blocking = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "sluice-governor-" + name + "-upstream-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        if (b.registry != null) {
            new GovernorMetrics(this).bindTo(b.registry);
        }
    }

    /** A builder of a governor whose limits live in {@code backend} (shared by every instance on it). */
    public static Builder builder(LimiterBackend backend) {
        return new Builder(Objects.requireNonNull(backend, "backend"));
    }

    /** This governor's name, its metrics' {@code governor} tag. */
    public String name() {
        return name;
    }

    /** The models this governor has key pools for. */
    public Set<String> models() {
        return pools.keySet();
    }

    /** The policy currently enforced for {@code key} on {@code model} (changes as limits are learned). */
    public Policy policy(String model, ProviderKey key) {
        for (Slot s : pool(model)) {
            if (s.key.equals(key)) {
                return s.policy;
            }
        }
        throw new IllegalArgumentException(key + " is not in the pool of " + model);
    }

    /** A snapshot of what this governor did. */
    public GovernorStats stats() {
        return stats.snapshot();
    }

    /** Calls waiting here to be woken by a settlement or a lease's release, on every key (for tests). */
    int waitingForRelease() {
        int n = 0;
        for (List<Slot> pool : pools.values()) {
            for (Slot s : pool) {
                n += s.waiters.size();
            }
        }
        return n;
    }

    /** Timers waiting on this governor's scheduler (for tests). */
    int timersPending() {
        return ((ScheduledThreadPoolExecutor) scheduler).getQueue().size();
    }

    /** How many releases (settlements, leases given back, wakes passed on) {@code key} has seen here (for tests). */
    long releases(String model, ProviderKey key) {
        for (Slot s : pool(model)) {
            if (s.key.equals(key)) {
                return s.releases.get();
            }
        }
        throw new IllegalArgumentException(key + " is not in the pool of " + model);
    }

    /**
     * Governs one call: reserves, sends it through {@code upstream}, settles, and retries as the class describes.
     * Completes with the provider's last answer, or exceptionally with a {@link GovernorException} (or
     * {@link UnknownModelException}) if no answer could be had.
     */
    public CompletableFuture<GovernedResponse> callAsync(ChatRequest request, Upstream upstream) {
        Objects.requireNonNull(request, "request");
        Objects.requireNonNull(upstream, "upstream");
        try {
            List<Slot> pool = pool(request.model());
            Call call = new Call(request, upstream, pool);
            open.add(call);
            call.result.whenComplete((r, e) -> open.remove(call));
            if (closed) {
                call.result.completeExceptionally(closedException());
                return call.result;
            }
            stats.calls.increment();
            call.next();
            return call.result;
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** Cancels an upstream attempt still running, if its stage allows: the provider stops generating for nobody. */
    private static void cancel(@Nullable CompletionStage<?> attempt) {
        if (attempt != null) {
            try {
                attempt.toCompletableFuture().cancel(true);
            } catch (UnsupportedOperationException notCancellable) {
                // a stage without a future behind it: it runs to its end, unsettled
            }
        }
    }

    private RejectedExecutionException closedException() {
        return new RejectedExecutionException("governor " + name + " is closed");
    }

    /**
     * {@link #callAsync} for a blocking upstream: waits for the answer on the calling thread; the upstream runs on
     * the governor's upstream threads.
     *
     * @throws GovernorException or {@link UnknownModelException} as {@link #callAsync} completes
     * @throws InterruptedException if interrupted while waiting (the call goes on and settles by itself)
     */
    public GovernedResponse call(ChatRequest request, Upstream.Blocking upstream) throws InterruptedException {
        Upstream async = attempt -> CompletableFuture.supplyAsync(() -> {
            try {
                return upstream.send(attempt);
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new CompletionException(e);
            }
        }, blocking);
        try {
            return callAsync(request, async).get();
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException re) {
                throw re;
            }
            throw new GovernorException(GovernorException.Reason.UPSTREAM_FAILED, String.valueOf(c), c);
        }
    }

    /**
     * Stops the governor's threads and fails every call not yet answered with a {@link RejectedExecutionException}.
     * A call at its upstream is settled as one whose upstream failed: its request and prompt tokens stay charged (the
     * provider may count them), its output tokens and its concurrency lease are given back, and its upstream stage is
     * cancelled ({@link OpenAiHttpUpstream}'s then aborts its HTTP exchange). The backend and cooldown
     * store belong to whoever built them.
     */
    @Override
    public void close() {
        closed = true;
        scheduler.shutdownNow();
        blocking.shutdownNow();
        for (Call c : open) {
            cancel(c.attempt);
            Reservation r = c.sending.getAndSet(null);
            if (r != null) {
                try {
                    r.slot.inFlight.decrementAndGet();
                    c.releaseSent(r);
                } catch (RuntimeException e) {
                    LOG.log(Level.WARNING, "governor " + name + ": could not give back a closed call's reservation",
                            e);
                }
            }
            if (c.result.completeExceptionally(closedException())) {
                stats.failed.increment();
            }
        }
        limiter.close();
    }

    private List<Slot> pool(String model) {
        List<Slot> pool = pools.get(model);
        if (pool == null) {
            throw new UnknownModelException("(pool)", model, String.join(", ", pools.keySet()));
        }
        return pool;
    }

    // ---------------------------------------------------------------------------------------------------------
    // One key of one model's pool.

    private final class Slot {
        final String model;
        final ProviderKey key;
        final ModelProfile profile;
        final String limiterKey;
        final String cooldownKey;
        volatile Policy policy;
        volatile @Nullable Limit windowRequests;
        volatile @Nullable Limit windowTokens;
        volatile @Nullable Limit leases;
        long learnedRequests;
        long learnedTokens;
        long learnedDaily;
        long adaptiveRequests;
        long lastIncreaseNanos = System.nanoTime();
        final AtomicInteger inFlight = new AtomicInteger();
        final java.util.concurrent.atomic.AtomicLong debtTokens = new java.util.concurrent.atomic.AtomicLong();
        volatile double score = 1.0;
        /** Calls waiting for a release here, the longest-waiting (or the one a wake found still short) first. */
        final ConcurrentLinkedDeque<Waiter> waiters = new ConcurrentLinkedDeque<>();
        /**
         * Counts releases here, so a call refused just before one can tell, once queued, that it may have missed
         * the wake.
         */
        final AtomicLong releases = new AtomicLong();

        /**
         * Wakes the longest waiter on this slot (for a lease, or for tokens a settled call gave back), if any and if
         * the governor is open (close fails the waiters).
         */
        void released() {
            releases.incrementAndGet();
            Waiter w = closed ? null : waiters.poll();
            if (w != null) {
                try {
                    scheduler.execute(w);
                } catch (RejectedExecutionException closing) {
                    // close() is failing every open call, this one included
                }
            }
        }

        Slot(String model, ProviderKey key, ModelProfile profile) {
            this.model = model;
            this.key = key;
            this.profile = profile;
            String safeModel = model.replaceAll("[^A-Za-z0-9_.-]", "_");
            this.limiterKey = namespace + ":" + safeModel + ":" + key.id();
            this.cooldownKey = namespace + ":cooldown:" + safeModel + ":" + key.id();
            this.policy = rebuild();
        }

        private Policy rebuild() {
            long req = min(profile.requests(), learnedRequests, adaptiveRequests);
            long tok = min(profile.tokens(), learnedTokens, 0);
            ModelProfile p = profile.withWindowLimits(req, tok);
            if (learnedDaily > 0) {
                p = p.withRequestsPerDay(min(profile.requestsPerDay(), learnedDaily, 0));
            }
            Policy pol = p.policy();
            this.windowRequests = p.windowLimit(pol, ModelProfile.REQUESTS);
            this.windowTokens = p.windowLimit(pol, ModelProfile.TOKENS);
            Limit lease = null;
            for (Limit l : pol.limits()) {
                if (l.dimension().equals(ModelProfile.CONCURRENT)) {
                    lease = l;
                }
            }
            this.leases = lease;
            return pol;
        }

        synchronized void changeLimits(Runnable change) {
            Policy before = policy;
            change.run();
            Policy after = rebuild();
            if (!after.equals(before)) {
                policy = after;
                stats.limitChanges.increment();
                LOG.log(Level.INFO, "governor " + name + ": " + key.id() + " on " + model + " now enforces " + after);
            }
        }

        long effectiveRequests() {
            return min(profile.requests(), learnedRequests, adaptiveRequests);
        }
    }

    /** The smallest positive of the three, or 0 if none is positive. */
    private static long min(long a, long b, long c) {
        long m = Long.MAX_VALUE;
        for (long v : new long[] {a, b, c}) {
            if (v > 0) {
                m = Math.min(m, v);
            }
        }
        return m == Long.MAX_VALUE ? 0 : m;
    }

    // ---------------------------------------------------------------------------------------------------------
    // One call.

    private record Reservation(Slot slot, Decision decision, Cost cost, long prompt, long maxOut, long debt) {
    }

    private final class Call {
        final CompletableFuture<GovernedResponse> result = new CompletableFuture<>();
        final ChatRequest request;
        final Upstream upstream;
        final List<Slot> pool;
        final long startNanos = System.nanoTime();
        final Set<Slot> outForTheDay = new HashSet<>();
        /** The reservation of the attempt at the upstream: whoever takes it (the answer or close) settles it. */
        final AtomicReference<@Nullable Reservation> sending = new AtomicReference<>();
        /** The upstream attempt running, for close() to cancel. */
        volatile @Nullable CompletionStage<UpstreamResponse> attempt;
        int attempts;
        long waitedNanos;
        @Nullable GovernedResponse last;

        Call(ChatRequest request, Upstream upstream, List<Slot> pool) {
            this.request = request;
            this.upstream = upstream;
            this.pool = pool;
        }

        void next() {
            long t0 = System.nanoTime();
            choose(null, false).whenComplete((r, e) -> {
                waitedNanos += System.nanoTime() - t0;
                if (e != null) {
                    fail(unwrap(e));
                } else {
                    send(r);
                }
            });
        }

        long budgetMicros() {
            long spent = (System.nanoTime() - startNanos) / 1000;
            return Math.max(0, maxWait.toNanos() / 1000 - spent);
        }

        /**
         * Picks a key and reserves on it, waiting as needed. {@code woke} is the slot whose release woke this look,
         * if one did: unless the call then queues on that slot again (the chain of wakes stops there), the wake
         * passes on to that slot's next waiter, whether this call is granted, waits elsewhere or fails. It queues
         * again at the head if {@code head} (it was the head the release took), else at the tail.
         */
        CompletableFuture<Reservation> choose(@Nullable Slot woke, boolean head) {
            List<Slot> candidates = new ArrayList<>();
            for (Slot s : pool) {
                if (!outForTheDay.contains(s)) {
                    candidates.add(s);
                }
            }
            if (candidates.isEmpty()) {
                candidates.addAll(pool);
            }
            List<CompletableFuture<Long>> cds = new ArrayList<>();
            for (Slot s : candidates) {
                cds.add(cooldowns.remainingMillisAsync(s.cooldownKey));
            }
            // The limiter blocks for a backend round trip: never on the cooldown store's (or anyone's) I/O thread.
            return CompletableFuture.allOf(cds.toArray(CompletableFuture[]::new)).thenComposeAsync(v -> {
              boolean passOn = woke != null;
              try {
                List<Slot> ready = new ArrayList<>();
                long minCooldown = Long.MAX_VALUE;
                for (int i = 0; i < candidates.size(); i++) {
                    long cd = cds.get(i).join();
                    if (cd <= 0) {
                        ready.add(candidates.get(i));
                    } else {
                        minCooldown = Math.min(minCooldown, cd);
                    }
                }
                if (ready.isEmpty()) {
                    passOn = false; // every key cools down: the next waiter could not use the wake either
                    return later(minCooldown * 1000, () -> choose(null, false));
                }
                ready.sort(Comparator.comparingDouble((Slot s) -> -s.score));
                Reservation best = null;
                Decision other = null;
                long minWait = Long.MAX_VALUE;
                Slot waitOn = ready.get(0);
                long waitOnSeen = 0;
                boolean leaseBound = false;
                for (Slot s : ready) {
                    long seen = s.releases.get(); // before the look: a release after it wakes the call once queued
                    Reservation r = reservation(s);
                    Decision d = limiter.tryAcquire(s.limiterKey, r.cost);
                    if (d.granted()) {
                        best = new Reservation(s, d, r.cost, r.prompt, r.maxOut, r.debt);
                        break;
                    }
                    if (d.reason() == Decision.Reason.RATE_LIMITED && d.retryAfterMicros() < minWait) {
                        minWait = d.retryAfterMicros();
                        waitOn = s;
                        waitOnSeen = seen;
                        Limit bound = d.boundBy();
                        leaseBound = bound != null && bound.dimension().equals(ModelProfile.CONCURRENT);
                    } else if (d.reason() != Decision.Reason.RATE_LIMITED) {
                        other = d;
                    }
                }
                if (best != null) {
                    return CompletableFuture.completedFuture(granted(best)); // the wake passes on: more may fit
                }
                if (minWait == Long.MAX_VALUE) {
                    // The backend could not decide (unreachable, out of keys): its failure policy denied; look again
                    // after its suggested wait, within the call's budget.
                    Decision o = Objects.requireNonNull(other);
                    LOG.log(Level.WARNING, "governor " + name + ": limiter denied " + o + "; trying again");
                    return later(Math.max(BACKEND_RECHECK_MICROS, o.retryAfterMicros()), () -> choose(null, false));
                }
                if (minCooldown != Long.MAX_VALUE) {
                    minWait = Math.min(minWait, minCooldown * 1000);
                }
                // A lease frees when a call ends, not when a window slides: wake on a local release, and look again
                // soon for releases by other instances. Tokens come back when a call here settles below its
                // reservation: wake then, else when predicted.
                long micros = leaseBound ? Math.min(minWait, LEASE_RECHECK_MICROS) : minWait;
                long budget = budgetMicros(); // read once: the decision to pass the wake on and to queue agree
                if (waitOn == woke && micros <= budget) {
                    passOn = false; // woken and still short: in line again, and the chain stops here
                }
                return onRelease(waitOn, micros, budget, waitOnSeen, waitOn == woke && head);
              } finally {
                if (passOn) {
                    woke.released();
                }
              }
            }, blocking);
        }

        /**
         * Chooses again when a call on {@code slot} settles or releases its lease here, or after {@code micros},
         * whichever comes first. {@code seen} is the slot's release count read before the look that refused this
         * call: if it moved since, a release may have passed the queue before this call joined it, so the call looks
         * again at once, keeping its place. {@code first} queues it at the head (a woken call still short keeps its
         * place); {@code budget} is what is left of the call's maximum wait.
         */
        CompletableFuture<Reservation> onRelease(Slot slot, long micros, long budget, long seen, boolean first) {
            if (micros > budget) {
                return later(micros, () -> choose(null, false));
            }
            Waiter w = new Waiter(this, slot, first);
            if (first) {
                slot.waiters.addFirst(w);
            } else {
                slot.waiters.addLast(w);
            }
            ScheduledFuture<?> timer;
            try {
                timer = scheduler.schedule(() -> {
                    if (slot.waiters.remove(w)) { // else a release took it from the queue and wakes it
                        w.look(false, false);
                    }
                }, Math.max(1, micros), TimeUnit.MICROSECONDS);
            } catch (RejectedExecutionException closed) {
                slot.waiters.remove(w); // close() fails the call; nothing is left queued
                throw closed;
            }
            w.timer = timer;
            if (w.looked.get()) {
                timer.cancel(false);
            }
            if (slot.releases.get() != seen && slot.waiters.remove(w)) {
                w.look(true, first);
            }
            return w.result;
        }

        <T> CompletableFuture<T> later(long micros, java.util.function.Supplier<CompletableFuture<T>> then) {
            if (micros > budgetMicros()) {
                return CompletableFuture.failedFuture(new GovernorException(GovernorException.Reason.DEADLINE_EXCEEDED,
                        "waiting " + Duration.ofNanos(micros * 1000) + " for quota or a cooldown on "
                                + request.model() + " would exceed the maximum wait of " + maxWait));
            }
            CompletableFuture<T> f = new CompletableFuture<>();
            scheduler.schedule(() -> then.get().whenComplete((v, e) -> {
                if (e != null) {
                    f.completeExceptionally(unwrap(e));
                } else {
                    f.complete(v);
                }
            }), Math.max(1, micros), TimeUnit.MICROSECONDS);
            return f;
        }

        Reservation reservation(Slot s) {
            long prompt = estimator.promptTokens(s.profile, request);
            long maxOut = estimator.maxOutputTokens(s.profile, request);
            Policy p = s.policy;
            long debt = s.debtTokens.get();
            Cost cost = null;
            cost = add(cost, p, ModelProfile.REQUESTS, 1, 0);
            // saturated: an overflow would read as no tokens at all and leave the dimension uncharged
            long both = prompt > Long.MAX_VALUE - maxOut ? Long.MAX_VALUE : prompt + maxOut;
            cost = add(cost, p, ModelProfile.TOKENS, both, debt);
            cost = add(cost, p, ModelProfile.INPUT_TOKENS, prompt, 0);
            cost = add(cost, p, ModelProfile.OUTPUT_TOKENS, maxOut, 0);
            cost = add(cost, p, ModelProfile.CONCURRENT, 1, 0);
            if (cost == null) {
                throw new IllegalStateException("policy counts nothing: " + p);
            }
            long usedDebt = Math.min(debt, Math.max(0, cost.units(ModelProfile.TOKENS) - prompt - maxOut));
            return new Reservation(s, Decision.unavailable(p, Decision.Reason.BACKEND_UNAVAILABLE, 0), cost, prompt,
                    maxOut, usedDebt);
        }

        Cost add(@Nullable Cost cost, Policy p, String dim, long units, long debt) {
            if (!p.hasDimension(dim) || units <= 0) {
                return cost;
            }
            long max = Long.MAX_VALUE;
            for (Limit l : p.limits()) {
                if (l.dimension().equals(dim)) {
                    max = Math.min(max, l.maxCost());
                }
            }
            if (units > max) {
                throw new GovernorException(GovernorException.Reason.TOO_LARGE, "a call to " + request.model()
                        + " needs " + units + " " + dim + " but a limit admits at most " + max
                        + " at once; lower max_tokens or the prompt");
            }
            long n = Math.min(max, units + debt);
            return cost == null ? Cost.of(dim, n) : cost.and(dim, n);
        }

        Reservation granted(Reservation r) {
            if (r.debt > 0) {
                r.slot.debtTokens.addAndGet(-r.debt);
            }
            Limit wr = r.slot.windowRequests;
            if (wr != null && r.decision.hasRemaining()) {
                long rem = r.decision.remaining(wr);
                r.slot.score = rem < 0 ? 1.0 : (double) rem / wr.capacity();
            }
            r.slot.inFlight.incrementAndGet();
            return r;
        }

        void send(Reservation r) {
            sending.set(r); // before reading closed: close() either finds it here or is seen here
            if (closed) {
                if (sending.compareAndSet(r, null)) { // granted while closing: never sent, only the request stays
                    r.slot.inFlight.decrementAndGet();
                    releaseAll(r);
                }
                fail(closedException());
                return;
            }
            attempts++;
            stats.attempts.increment();
            if (attempts > 1) {
                stats.retries.increment();
            }
            stats.tokensReserved.accumulate(saturatedAdd(r.prompt, r.maxOut));
            CompletionStage<UpstreamResponse> stage;
            try {
                stage = upstream.send(new Attempt(request, r.slot.key, attempts));
            } catch (RuntimeException e) {
                stage = CompletableFuture.failedFuture(e);
            }
            attempt = stage;
            if (closed) { // close() may have looked for it before it was set
                cancel(stage);
            }
            stage.whenCompleteAsync((resp, e) -> {
                if (!sending.compareAndSet(r, null)) {
                    return; // close() settled it
                }
                try {
                    if (e != null) {
                        onFailure(r, unwrap(e));
                    } else {
                        onAnswer(r, resp);
                    }
                } catch (RuntimeException bug) {
                    if (!closed) {
                        LOG.log(Level.ERROR, "governor " + name + " failed to settle a call", bug);
                    }
                    fail(bug);
                }
            }, blocking);
        }

        void onFailure(Reservation r, Throwable e) {
            r.slot.inFlight.decrementAndGet();
            if (neverSent(e)) {
                releaseUnsent(r);
            } else {
                releaseSent(r);
            }
            if (attempts < maxAttempts) {
                retryAfter(r.slot, e.toString());
            } else {
                fail(new GovernorException(GovernorException.Reason.UPSTREAM_FAILED,
                        "upstream failed on all " + attempts + " attempts: " + e, e));
            }
        }

        void onAnswer(Reservation r, UpstreamResponse resp) {
            Slot s = r.slot;
            s.inFlight.decrementAndGet();
            ProviderSignal signal = ProviderSignals.read(resp.status(), resp.headers(),
                    resp.status() == 429 ? resp.body() : null, Instant.now());
            learn(r, signal);
            last = new GovernedResponse(resp, s.key, attempts, Duration.ofNanos(waitedNanos));
            if (resp.successful()) {
                settle(r, resp);
                adaptiveIncrease(s);
                finish(true);
                return;
            }
            if (resp.status() == 429) {
                // one count per 429, of its kind, so that no reading sees a window 429 that a daily one undoes
                (signal.retryable() ? stats.windowRateLimited : stats.dailyRefusals).increment();
                cooldown(s, signal); // first: the release below wakes waiters, who must see the cooldown
                releaseAll(r);
                if (!signal.retryable()) {
                    outForTheDay.add(s);
                    boolean another = false;
                    for (Slot o : pool) {
                        if (!outForTheDay.contains(o)) {
                            another = true;
                        }
                    }
                    if (another && attempts < maxAttempts) {
                        next();
                    } else {
                        finish(false);
                    }
                    return;
                }
                if (attempts < maxAttempts) {
                    retryAfter(s, "429 " + signal.kind());
                } else {
                    finish(false);
                }
                return;
            }
            releaseSent(r);
            boolean retryable = resp.status() >= 500 || resp.status() == 408;
            if (retryable && attempts < maxAttempts) {
                retryAfter(s, "status " + resp.status());
            } else {
                finish(false);
            }
        }

        /**
         * Gives back what a call sent without an answer to settle on (it failed, or the governor closed) reserved
         * for its output, and its lease: the provider may have counted its prompt, and where it counts max_tokens in
         * full ({@link ModelProfile#chargesMaxTokens}), the output too, which then stays charged.
         */
        void releaseSent(Reservation r) {
            if (r.slot.profile.chargesMaxTokens()) {
                release(r, 0, 0, false);
            } else {
                release(r, r.maxOut, 0, true);
            }
        }

        /**
         * Gives back everything the reservation took, its request too: the call never reached the provider (the
         * connection was refused or the host unknown), which counted none of it.
         */
        void releaseUnsent(Reservation r) {
            if (r.slot.policy.hasDimension(ModelProfile.REQUESTS) && r.cost.units(ModelProfile.REQUESTS) > 0) {
                limiter.refund(r.slot.limiterKey, Cost.of(ModelProfile.REQUESTS, 1));
            }
            releaseAll(r);
        }

        /** Gives back everything the reservation took: the provider counted none of it. */
        void releaseAll(Reservation r) {
            release(r, r.prompt + r.maxOut, r.prompt, true);
        }

        /**
         * Gives back {@code tokens} of the reservation, {@code input} input tokens, the output tokens if
         * {@code output}, and the lease.
         */
        void release(Reservation r, long tokens, long input, boolean output) {
            Policy p = r.slot.policy;
            Cost back = null;
            if (p.hasDimension(ModelProfile.TOKENS) && r.cost.units(ModelProfile.TOKENS) > 0 && tokens > 0) {
                back = Cost.of(ModelProfile.TOKENS, Math.min(tokens, r.cost.units(ModelProfile.TOKENS)));
            }
            if (p.hasDimension(ModelProfile.INPUT_TOKENS) && input > 0) {
                back = plus(back, ModelProfile.INPUT_TOKENS, Math.min(input, r.cost.units(ModelProfile.INPUT_TOKENS)));
            }
            if (output && p.hasDimension(ModelProfile.OUTPUT_TOKENS) && r.maxOut > 0) {
                back = plus(back, ModelProfile.OUTPUT_TOKENS, r.maxOut);
            }
            if (p.hasDimension(ModelProfile.CONCURRENT)) {
                back = plus(back, ModelProfile.CONCURRENT, 1);
            }
            if (back != null) {
                limiter.refund(r.slot.limiterKey, back);
                stats.tokensRefunded.add(back.units(ModelProfile.TOKENS));
            }
            r.slot.released();
        }

        /** Reconciles the reservation with the reported usage, and releases the lease. */
        void settle(Reservation r, UpstreamResponse resp) {
            Slot s = r.slot;
            Usage u = resp.reportedUsage();
            Policy p = s.policy;
            Cost back = p.hasDimension(ModelProfile.CONCURRENT) ? Cost.of(ModelProfile.CONCURRENT, 1) : null;
            Cost more = null;
            if (u == null) {
                stats.unsettled.increment();
            } else {
                stats.tokensActual.add(u.totalTokens());
                stats.promptEstimateError.add(Math.abs(r.prompt - u.promptTokens()));
                long reservedTokens = r.prompt + r.maxOut;
                // What the provider counted: what the call used, or, where it counts max_tokens in full, the
                // prompt and all the output reserved (the output limit the request named, else the default).
                boolean full = s.profile.chargesMaxTokens();
                long countedOut = full ? Math.max(u.completionTokens(), r.maxOut) : u.completionTokens();
                if (r.cost.units(ModelProfile.TOKENS) > 0) {
                    long diff = reservedTokens - (u.promptTokens() + countedOut);
                    if (diff > 0) {
                        back = plus(back, ModelProfile.TOKENS, diff);
                    } else if (diff < 0) {
                        more = plus(more, ModelProfile.TOKENS, -diff);
                    }
                }
                if (r.cost.units(ModelProfile.INPUT_TOKENS) > 0) {
                    long diff = r.prompt - u.promptTokens();
                    if (diff > 0) {
                        back = plus(back, ModelProfile.INPUT_TOKENS, diff);
                    } else if (diff < 0) {
                        more = plus(more, ModelProfile.INPUT_TOKENS, -diff);
                    }
                }
                if (r.cost.units(ModelProfile.OUTPUT_TOKENS) > 0) {
                    long diff = r.maxOut - countedOut;
                    if (diff > 0) {
                        back = plus(back, ModelProfile.OUTPUT_TOKENS, diff);
                    } else if (diff < 0) {
                        more = plus(more, ModelProfile.OUTPUT_TOKENS, -diff);
                    }
                }
            }
            if (back != null) {
                limiter.refund(s.limiterKey, back);
                stats.tokensRefunded.add(back.units(ModelProfile.TOKENS));
            }
            if (more != null) {
                chargeDebt(s, more); // first: a waiter woken below must not take what the provider already counted
            }
            s.released();
        }

        /**
         * Charges units used beyond the reservation. The limiter never charges what it would deny, so a charge that
         * does not fit now is carried as debt into this key's next reservation.
         */
        void chargeDebt(Slot s, Cost more) {
            long tokens = more.units(ModelProfile.TOKENS);
            stats.tokensDebt.add(tokens);
            Decision d;
            try {
                d = limiter.tryAcquire(s.limiterKey, more);
            } catch (IllegalArgumentException tooLarge) {
                d = null;
            }
            if ((d == null || !d.granted()) && tokens > 0) {
                s.debtTokens.addAndGet(tokens);
            }
        }

        /** Believes the provider: limits it reports below ours, remaining below what we think. */
        void learn(Reservation r, ProviderSignal signal) {
            Slot s = r.slot;
            HeaderDialect dialect = s.profile.dialect();
            if (dialect == HeaderDialect.OPENAI || dialect == HeaderDialect.ANTHROPIC
                    || dialect == HeaderDialect.GROQ) {
                long lr = signal.limitRequests();
                long lt = signal.limitTokens();
                boolean daily = dialect.requestsHeaderIsDaily();
                long base = daily ? s.profile.requestsPerDay() : s.profile.requests();
                long newReq = lr > 0 && base > 0 && lr < base ? lr : 0;
                long newTok = lt > 0 && s.profile.tokens() > 0 && lt < s.profile.tokens() ? lt : 0;
                boolean change = daily ? newReq != s.learnedDaily : newReq != s.learnedRequests;
                if (lr > 0 && change || lt > 0 && newTok != s.learnedTokens) {
                    s.changeLimits(() -> {
                        if (lr > 0) {
                            if (daily) {
                                s.learnedDaily = newReq;
                            } else {
                                s.learnedRequests = newReq;
                            }
                        }
                        if (lt > 0) {
                            s.learnedTokens = newTok;
                        }
                    });
                }
                reconcile(r, signal, daily);
            }
        }

        void reconcile(Reservation r, ProviderSignal signal, boolean requestsHeaderIsDaily) {
            Decision d = r.decision;
            if (!d.hasRemaining()) {
                return;
            }
            Slot s = r.slot;
            long inFlight = s.inFlight.get() + 1;
            Limit lease = null;
            for (Limit l : d.policy().limits()) {
                if (l.dimension().equals(ModelProfile.CONCURRENT)) {
                    lease = l;
                }
            }
            if (lease != null) {
                inFlight = Math.max(inFlight, lease.capacity() - d.remaining(lease));
            }
            Limit wr = s.profile.windowLimit(d.policy(), ModelProfile.REQUESTS);
            if (!requestsHeaderIsDaily && wr != null && signal.remainingRequests() >= 0) {
                long excess = d.remaining(wr) - signal.remainingRequests() - inFlight;
                consume(s, ModelProfile.REQUESTS, excess);
            }
            Limit wt = s.profile.windowLimit(d.policy(), ModelProfile.TOKENS);
            if (wt != null && signal.remainingTokens() >= 0) {
                long excess = d.remaining(wt) - signal.remainingTokens() - inFlight * (r.prompt + r.maxOut);
                consume(s, ModelProfile.TOKENS, excess);
            }
        }

        /** Consumes up to {@code units} of the key's short window on {@code dim}: at most what remains there. */
        void consume(Slot s, String dim, long units) {
            if (units <= 0) {
                return;
            }
            Policy p = s.policy;
            long max = Long.MAX_VALUE;
            for (Limit l : p.limits()) {
                if (l.dimension().equals(dim)) {
                    max = Math.min(max, l.maxCost());
                }
            }
            if (max == Long.MAX_VALUE) {
                return;
            }
            long n = Math.min(units, max);
            try {
                Decision d = limiter.tryAcquire(s.limiterKey, Cost.of(dim, n));
                if (!d.granted() && d.hasRemaining()) {
                    long left = d.remaining(dim);
                    if (left > 0 && left < n) {
                        n = left;
                        d = limiter.tryAcquire(s.limiterKey, Cost.of(dim, n));
                    }
                }
                if (d.granted()) {
                    stats.reconciled.add(n);
                }
            } catch (IllegalArgumentException policyChanged) {
                // the policy changed under us: nothing to reconcile against
            }
        }

        void cooldown(Slot s, ProviderSignal signal) {
            long now = System.currentTimeMillis();
            Duration cd;
            ModelProfile p = s.profile;
            if (!signal.retryable()) {
                if (p.dayWindow().equals(Duration.ofDays(1))) {
                    Instant reset = p.dailyReset().nextAfter(Instant.ofEpochMilli(now));
                    cd = Duration.between(Instant.ofEpochMilli(now), reset);
                    if (p.dailyReset().isRolling() && signal.retryAfter() != null) {
                        cd = signal.retryAfter();
                    }
                } else {
                    cd = signal.retryAfter() != null ? signal.retryAfter() : p.dayWindow();
                }
            } else {
                cd = SharedCooldowns.waitOf(signal,
                        p.window().compareTo(Duration.ofSeconds(1)) < 0 ? p.window() : Duration.ofSeconds(1));
                if (p.adaptive() && signal.limitRequests() < 0 && s.effectiveRequests() > 0) {
                    s.changeLimits(() -> {
                        s.adaptiveRequests = Math.max(1, (long) Math.floor(s.effectiveRequests() * 0.7));
                        s.lastIncreaseNanos = System.nanoTime();
                    });
                }
            }
            long ms = Math.max(1, (cd.toNanos() + 999_999) / 1_000_000);
            stats.cooldowns.increment();
            stats.cooldownNanos.add(ms * 1_000_000);
            cooldowns.coolDown(s.cooldownKey, Duration.ofMillis(ms));
        }

        void adaptiveIncrease(Slot s) {
            if (!s.profile.adaptive() || s.adaptiveRequests == 0) {
                return;
            }
            long now = System.nanoTime();
            if (now - s.lastIncreaseNanos >= s.profile.window().toNanos()) {
                s.changeLimits(() -> {
                    s.lastIncreaseNanos = now;
                    long step = Math.max(1, s.profile.requests() / 20);
                    s.adaptiveRequests += step;
                    if (s.adaptiveRequests >= s.profile.requests()) {
                        s.adaptiveRequests = 0;
                    }
                });
            }
        }

        void retryAfter(Slot s, String why) {
            long cdMs = cooldowns.remainingMillis(s.cooldownKey);
            long jitter = SharedCooldowns.backoffMicros(attempts, backoffBase, backoffCap);
            long delay = cdMs * 1000 + jitter;
            if (delay > budgetMicros()) {
                finish(false);
                return;
            }
            waitedNanos += delay * 1000;
            scheduler.schedule(this::next, Math.max(1, delay), TimeUnit.MICROSECONDS);
        }

        void finish(boolean ok) {
            GovernedResponse r = Objects.requireNonNull(last);
            if (ok) {
                stats.succeeded.increment();
            } else {
                stats.failed.increment();
            }
            stats.waitedNanos.add(waitedNanos);
            result.complete(new GovernedResponse(r.response(), r.key(), attempts, Duration.ofNanos(waitedNanos)));
        }

        void fail(Throwable e) {
            if (closed) {
                // Failed because close() began (its executors refuse work, most likely): fail as closed, as close()
                // does, whichever of the two gets here first.
                if (result.completeExceptionally(closedException())) {
                    stats.failed.increment();
                }
                return;
            }
            GovernedResponse l = last;
            if (l != null && !(e instanceof GovernorException ge && ge.reason() == GovernorException.Reason.UPSTREAM_FAILED)) {
                finish(l.response().successful()); // a later wait failed: hand back the last answer
                return;
            }
            stats.failed.increment();
            stats.waitedNanos.add(waitedNanos);
            result.completeExceptionally(e);
        }
    }

    private static Cost plus(@Nullable Cost c, String dim, long units) {
        if (units <= 0) {
            return c;
        }
        return c == null ? Cost.of(dim, units) : c.and(dim, units);
    }

    /** Whether {@code e} says the call never left: a refused connection or an unknown host. */
    static boolean neverSent(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof java.net.ConnectException || c instanceof java.net.UnknownHostException
                    || c instanceof java.nio.channels.UnresolvedAddressException) {
                return true;
            }
        }
        return false;
    }

    private static Throwable unwrap(Throwable e) {
        Throwable t = e;
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    private static final class Stats {
        final LongAdder calls = new LongAdder();
        final LongAdder succeeded = new LongAdder();
        final LongAdder failed = new LongAdder();
        final LongAdder attempts = new LongAdder();
        final LongAdder retries = new LongAdder();
        /** 429s that are not daily refusals; with {@link #dailyRefusals}, every 429. */
        final LongAdder windowRateLimited = new LongAdder();
        final LongAdder dailyRefusals = new LongAdder();
        /** Saturates at {@link Long#MAX_VALUE}: a profile without a token limit sends calls whose reservation does. */
        final LongAccumulator tokensReserved = new LongAccumulator(Governor::saturatedAdd, 0);
        final LongAdder tokensActual = new LongAdder();
        final LongAdder tokensRefunded = new LongAdder();
        final LongAdder tokensDebt = new LongAdder();
        final LongAdder unsettled = new LongAdder();
        final LongAdder promptEstimateError = new LongAdder();
        final LongAdder waitedNanos = new LongAdder();
        final LongAdder cooldowns = new LongAdder();
        final LongAdder cooldownNanos = new LongAdder();
        final LongAdder reconciled = new LongAdder();
        final LongAdder limitChanges = new LongAdder();

        GovernorStats snapshot() {
            long daily = dailyRefusals.sum();
            return new GovernorStats(calls.sum(), succeeded.sum(), failed.sum(), attempts.sum(), retries.sum(),
                    windowRateLimited.sum() + daily, daily, tokensReserved.get(), tokensActual.sum(),
                    tokensRefunded.sum(), tokensDebt.sum(), unsettled.sum(), promptEstimateError.sum(),
                    Duration.ofNanos(waitedNanos.sum()), cooldowns.sum(), Duration.ofNanos(cooldownNanos.sum()),
                    reconciled.sum(), limitChanges.sum());
        }
    }

    /** {@code a + b} of two counts (not negative), {@link Long#MAX_VALUE} if that does not fit. */
    private static long saturatedAdd(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    /** Builds a {@link Governor}. */
    public static final class Builder {
        private final LimiterBackend backend;
        private @Nullable ProviderProfiles profiles;
        private final Map<String, List<ProviderKey>> pools = new LinkedHashMap<>();
        private @Nullable CacheStore cooldownStore;
        private @Nullable MeterRegistry registry;
        private String name = "governor";
        private String namespace = "gov";
        private int maxAttempts = 3;
        private Duration backoffBase = Duration.ofMillis(500);
        private Duration backoffCap = Duration.ofSeconds(30);
        private Duration maxWait = Duration.ofMinutes(5);

        private Builder(LimiterBackend backend) {
            this.backend = backend;
        }

        /** The provider profiles (required), for example {@link ProviderProfiles#builtIn()} overridden by yours. */
        public Builder profiles(ProviderProfiles profiles) {
            this.profiles = Objects.requireNonNull(profiles, "profiles");
            return this;
        }

        /**
         * The keys that may serve {@code model}, each at its provider; the governor picks the one with the most
         * quota left that is not cooling down. Calling it again for a model adds keys.
         */
        public Builder pool(String model, ProviderKey... keys) {
            if (keys.length == 0) {
                throw new IllegalArgumentException("a pool needs at least one key");
            }
            pools.computeIfAbsent(Objects.requireNonNull(model, "model"), m -> new ArrayList<>())
                    .addAll(List.of(keys));
            return this;
        }

        /** Where cooldowns are shared between instances (for example a Redis cache store); default: this JVM only. */
        public Builder cooldownStore(CacheStore store) {
            this.cooldownStore = Objects.requireNonNull(store, "store");
            return this;
        }

        /** Records {@link GovernorMetrics} and the limiter's metrics in {@code registry}. */
        public Builder meterRegistry(MeterRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "registry");
            return this;
        }

        /** The name of the governor's metrics and threads (default {@code governor}). */
        public Builder name(String name) {
            if (name == null || !NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("name must be 1-64 characters of [A-Za-z0-9_.-], was " + name);
            }
            this.name = name;
            return this;
        }

        /** The prefix of the governor's limiter keys and cooldown entries (default {@code gov}). */
        public Builder namespace(String namespace) {
            if (namespace == null || !NAME.matcher(namespace).matches()) {
                throw new IllegalArgumentException("namespace must be 1-64 characters of [A-Za-z0-9_.-]");
            }
            this.namespace = namespace;
            return this;
        }

        /** Attempts per call, the first included (default 3). */
        public Builder maxAttempts(int maxAttempts) {
            if (maxAttempts < 1) {
                throw new IllegalArgumentException("maxAttempts must be at least 1");
            }
            this.maxAttempts = maxAttempts;
            return this;
        }

        /**
         * Exponential backoff with full jitter after a failed attempt: a random wait up to
         * {@code min(cap, base × 2^(attempt-1))}, added to what remains of the key's cooldown (default 500 ms, 30 s).
         */
        public Builder backoff(Duration base, Duration cap) {
            if (base.isNegative() || cap.compareTo(base) < 0) {
                throw new IllegalArgumentException("need 0 <= base <= cap");
            }
            this.backoffBase = base;
            this.backoffCap = cap;
            return this;
        }

        /** The longest a call waits for quota, cooldowns and backoff in all (default 5 minutes). */
        public Builder maxWait(Duration maxWait) {
            if (maxWait.isNegative()) {
                throw new IllegalArgumentException("maxWait must not be negative");
            }
            this.maxWait = maxWait;
            return this;
        }

        /**
         * The governor.
         *
         * @throws NullPointerException if no profiles were given
         * @throws UnknownModelException if a pool names a model its provider has no profile for
         */
        public Governor build() {
            return new Governor(this);
        }
    }

    /**
     * A call queued on a slot: it looks again once, when a release there wakes it or when its timer fires,
     * whichever is first; a wake cancels the timer, so a call served early holds no timer until its predicted moment.
     */
    private final class Waiter implements Runnable {
        final Call call;
        final Slot slot;
        /** Queued at the head: it keeps that place if it looks again and is still short. */
        final boolean first;
        final CompletableFuture<Reservation> result = new CompletableFuture<>();
        final java.util.concurrent.atomic.AtomicBoolean looked = new java.util.concurrent.atomic.AtomicBoolean();
        volatile @Nullable ScheduledFuture<?> timer;

        Waiter(Call call, Slot slot, boolean first) {
            this.call = call;
            this.slot = slot;
            this.first = first;
        }

        /** Woken by a release, which took it from the head of the queue. */
        @Override
        public void run() {
            look(true, true);
        }

        /** Looks again once, for a release ({@code byRelease}) or its timer; {@code head}: see {@link Call#choose}. */
        void look(boolean byRelease, boolean head) {
            if (!looked.compareAndSet(false, true)) {
                return;
            }
            ScheduledFuture<?> t = timer;
            if (t != null) {
                t.cancel(false);
            }
            CompletableFuture<Reservation> next;
            try {
                next = call.choose(byRelease ? slot : null, head);
            } catch (RuntimeException e) {
                if (byRelease) {
                    slot.released();
                }
                result.completeExceptionally(e);
                return;
            }
            next.whenComplete((v, e) -> {
                if (e != null) {
                    result.completeExceptionally(unwrap(e));
                } else {
                    result.complete(v);
                }
            });
        }
    }
}

package dev.sluice.gateway.internal;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.api.RateLimiter;
import dev.sluice.governor.SharedCooldowns;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Admits a call under its tenant's share and one provider key's limits, both acquired: the tenant first (waiting up
 * to the deadline), then a key of the model's pool (any key with quota now, else a wait in the pool's waiting room,
 * fair between tenants, for the key that frees first, skipping keys in cooldown). If no key can be had in time, the tenant's charge is refunded. A granted call holds a
 * {@link Ticket}, settled once with the tokens the upstream reports: the difference to the reservation is refunded
 * or charged on both.
 *
 * <p>Limiter calls run on {@code executor}: the caller's thread for the memory backend, a worker pool for network
 * backends (their calls block), never an event loop then.
 */
public final class Admission {

    private static final Logger LOG = LoggerFactory.getLogger(Admission.class);
    /** When a waiting room whose serving failed unexpectedly tries again. */
    private static final long RETRY_MICROS = 100_000;

    private final RateLimiter limiter;
    private final Executor executor;
    private final SharedCooldowns cooldowns;
    /** The live policy of a provider key's limiter key, null once a reload removed it; null: the routes' own. */
    private final java.util.function.@Nullable Function<String, @Nullable Policy> current;
    private final Map<String, AtomicInteger> waiting = new ConcurrentHashMap<>();

    /** Calls waiting for quota now, of every tenant. */
    public int waiting() {
        int n = 0;
        for (AtomicInteger w : waiting.values()) {
            n += w.get();
        }
        return n;
    }
    private final Map<String, AtomicInteger> roundRobin = new ConcurrentHashMap<>();
    private final Map<String, Gate> gates = new ConcurrentHashMap<>();
    /** Wakes waiting rooms at the predicted moment; the work itself runs on the limiter's executor. */
    private static final ScheduledExecutorService TIMERS = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "sluice-gateway-waits");
        t.setDaemon(true);
        return t;
    });

    /** Admits with {@code limiter}, running its calls on {@code executor}. */
    public Admission(RateLimiter limiter, Executor executor, SharedCooldowns cooldowns) {
        this(limiter, executor, cooldowns, null);
    }

    /**
     * An admission whose calls take a provider key only while {@code current} has a policy for its limiter key: a
     * call routed before a reload that removed a key (or changed its limits) never takes it, or takes it under its
     * new limits. A null {@code current} keeps the policies of the routes the calls were given.
     */
    public Admission(RateLimiter limiter, Executor executor, SharedCooldowns cooldowns,
            java.util.function.@Nullable Function<String, @Nullable Policy> current) {
        this.limiter = limiter;
        this.executor = executor;
        this.cooldowns = cooldowns;
        this.current = current;
    }

    /** Where a refusal came from. */
    public enum Scope {
        /** The tenant's share. */
        TENANT,
        /** The provider keys' limits. */
        PROVIDER,
        /** Every key of the pool is cooling down after upstream 429s. */
        COOLDOWN,
        /** Too many calls of the tenant are waiting already. */
        QUEUE_FULL,
        /** The limiter backend cannot answer and its failure policy denies. */
        BACKEND,
        /** The call needs more tokens than a limit admits in one call. */
        TOO_LARGE
    }

    /** Why a call was not admitted, and when a retry may succeed. */
    public record Refusal(Scope scope, long retryAfterMicros, @Nullable Decision decision, String message) {
    }

    /** A granted call: what was charged where. Settle it exactly once. */
    public static final class Ticket {
        final Routes.TenantRoute tenant;
        final @Nullable Cost tenantCost;
        @Nullable Decision tenantDecision;
        Routes.@Nullable PoolKey key;
        /** The key's policy when it was charged (a reload may have changed the route's since); set with the key. */
        @Nullable Policy keyPolicy;
        @Nullable Cost keyCost;
        @Nullable Decision keyDecision;
        final long reservedTokens;
        /** The answer's share of {@link #reservedTokens}. */
        final long reservedOutput;
        final long startNanos = System.nanoTime();
        private boolean settled;

        Ticket(Routes.TenantRoute tenant, @Nullable Cost tenantCost, long reservedTokens, long reservedOutput) {
            this.tenant = tenant;
            this.tenantCost = tenantCost;
            this.reservedTokens = reservedTokens;
            this.reservedOutput = reservedOutput;
        }

        /** The provider key the call goes out with. */
        public Routes.PoolKey key() {
            return java.util.Objects.requireNonNull(key);
        }

        /** The tenant's decision, or null if the tenant has no share. */
        public @Nullable Decision tenantDecision() {
            return tenantDecision;
        }

        /** The provider key's decision. */
        public @Nullable Decision keyDecision() {
            return keyDecision;
        }

        /** Tokens reserved. */
        public long reservedTokens() {
            return reservedTokens;
        }
    }

    /** Either a ticket or a refusal. */
    public record Outcome(@Nullable Ticket ticket, @Nullable Refusal refusal) {
    }

    /**
     * Admits a call of 1 request and {@code tokens} tokens (0: requests only), waiting at most {@code maxWait}.
     * Never completes exceptionally for quota reasons; a limiter failure completes it exceptionally.
     */
    public CompletableFuture<Outcome> admit(Routes.TenantRoute tenant, Routes.ModelRoute model, long tokens,
            Duration maxWait, int maxWaiting) {
        return admit(tenant, model, tokens, 0, maxWait, maxWaiting);
    }

    /**
     * As {@link #admit(Routes.TenantRoute, Routes.ModelRoute, long, Duration, int)}, {@code outputTokens} of the
     * {@code tokens} being the answer's share (what a provider that counts max_tokens in full keeps).
     */
    public CompletableFuture<Outcome> admit(Routes.TenantRoute tenant, Routes.ModelRoute model, long tokens,
            long outputTokens, Duration maxWait, int maxWaiting) {
        CompletableFuture<Outcome> result = new CompletableFuture<>();
        Policy tp = tenant.policy();
        Policy kp = model.keys().get(0).policy();
        Refusal tooLarge = tooLarge(tp, "tenant", tokens);
        if (tooLarge == null) {
            tooLarge = tooLarge(kp, "provider", tokens);
        }
        if (tooLarge != null) {
            result.complete(new Outcome(null, tooLarge));
            return result;
        }
        long deadline = System.nanoTime() + maxWait.toNanos();
        Cost tc = tp == null ? null : cost(tp, tokens);
        Ticket ticket = new Ticket(tenant, tc, tokens, outputTokens);
        Place place = new Place(waiting.computeIfAbsent(tenant.name(), k -> new AtomicInteger()), maxWaiting);
        result.whenComplete((o, e) -> place.leave());
        executor.execute(() -> {
            try {
                if (tc == null) {
                    pickKey(ticket, model, tokens, deadline, result, place);
                    return;
                }
                Decision now = limiter.tryAcquire(tenant.limiterKey(), tc);
                if (now.granted()) { // the tenant's share had room: no wait, no place taken
                    ticket.tenantDecision = now;
                    pickKey(ticket, model, tokens, deadline, result, place);
                    return;
                }
                if (now.reason() != Decision.Reason.RATE_LIMITED) { // not about quota (backend down): no wait helps
                    result.complete(new Outcome(null, refusal(now, Scope.TENANT)));
                    return;
                }
                if (!place.take()) {
                    result.complete(queueFull());
                    return;
                }
                CompletableFuture<Decision> share = limiter.acquireAsync(tenant.limiterKey(), tc, maxWait);
                result.whenComplete((o, e) -> {
                    if (result.isCancelled()) {
                        share.cancel(false); // a share granted meanwhile is given back by the limiter
                    }
                });
                share.whenComplete((d, e) -> {
                    if (e != null) {
                        result.completeExceptionally(e);
                    } else if (!d.granted()) {
                        result.complete(new Outcome(null, refusal(d, Scope.TENANT)));
                    } else {
                        ticket.tenantDecision = d;
                        executor.execute(() -> pickKey(ticket, model, tokens, deadline, result, place));
                    }
                });
            } catch (RuntimeException e) {
                result.completeExceptionally(e);
            }
        });
        return result;
    }

    private static Outcome queueFull() {
        return new Outcome(null, new Refusal(Scope.QUEUE_FULL, 1_000_000, null,
                "Too many calls of this tenant are waiting for quota; retry later."));
    }

    /**
     * A call's place among its tenant's waiting calls, taken only once it must wait (for the tenant's share or a
     * key), at most {@code max} of them at once; given up when the call ends.
     */
    private static final class Place {
        private final AtomicInteger waiting;
        private final int max;
        private boolean taken;
        private boolean left;

        Place(AtomicInteger waiting, int max) {
            this.waiting = waiting;
            this.max = max;
        }

        /** Takes a place, or keeps the one taken; false if the tenant has none left, or the call has ended. */
        synchronized boolean take() {
            if (taken) {
                return true;
            }
            if (left) {
                return false;
            }
            if (waiting.incrementAndGet() > max) {
                waiting.decrementAndGet();
                return false;
            }
            taken = true;
            return true;
        }

        /** Gives the place up, if taken; the call has ended. */
        synchronized void leave() {
            left = true;
            if (taken) {
                taken = false;
                waiting.decrementAndGet();
            }
        }
    }

    private void pickKey(Ticket ticket, Routes.ModelRoute model, long tokens, long deadline,
            CompletableFuture<Outcome> result, Place place) {
        if (result.isDone()) { // its caller gave up while the tenant's share was being taken
            refundTenant(ticket);
            return;
        }
        Gate gate = gates.computeIfAbsent(model.poolId(), k -> new Gate());
        if (!gate.busy) {
            // nobody waits: take quota without the waiting room's lock
            try {
                Attempt a = tryKeys(model, tokens);
                if (a.key != null) {
                    grant(ticket, a, result);
                    return;
                }
            } catch (RuntimeException e) {
                refundTenant(ticket);
                result.completeExceptionally(e);
                return;
            }
        }
        if (!place.take()) {
            refundTenant(ticket);
            result.complete(queueFull());
            return;
        }
        gate.submit(new Waiter(ticket, model, tokens, deadline, result));
    }

    /** One call waiting for a key of a model's pool. */
    private record Waiter(Ticket ticket, Routes.ModelRoute model, long tokens, long deadline,
            CompletableFuture<Outcome> result) {
    }

    /** The result of trying every key of a pool once; {@code removed}: a reload removed every key it has. */
    private record Attempt(Routes.@Nullable PoolKey key, @Nullable Cost cost, @Nullable Decision decision,
            long waitMicros, boolean cooling, @Nullable Decision denial, boolean removed, @Nullable Policy policy) {
        Attempt(Routes.@Nullable PoolKey key, @Nullable Cost cost, @Nullable Decision decision, long waitMicros,
                boolean cooling, @Nullable Decision denial) {
            this(key, cost, decision, waitMicros, cooling, denial, false, null);
        }
    }

    /** Tries each key of the pool once (round robin, skipping keys in cooldown), charging the first that admits. */
    private Attempt tryKeys(Routes.ModelRoute model, long tokens) {
        List<Routes.PoolKey> keys = model.keys();
        int n = keys.size();
        int start = n == 1 ? 0 : Math.floorMod(roundRobin.computeIfAbsent(model.poolId(),
                k -> new AtomicInteger()).getAndIncrement(), n);
        Decision best = null;
        Decision other = null;
        long minCool = Long.MAX_VALUE;
        int removed = 0;
        for (int i = 0; i < n; i++) {
            Routes.PoolKey k = keys.get((start + i) % n);
            Policy p = k.policy();
            if (current != null) {
                p = current.apply(k.limiterKey());
                if (p == null) { // a reload removed the key (or its model's limits): the call never takes it
                    removed++;
                    continue;
                }
            }
            long cool = cooldowns.remainingMillis(k.cooldownKey());
            if (cool > 0) {
                minCool = Math.min(minCool, cool);
                continue;
            }
            Cost c = cost(p, tokens);
            Decision d = limiter.tryAcquire(k.limiterKey(), c);
            if (d.granted()) {
                return new Attempt(k, c, d, 0, false, null, false, p);
            }
            if (d.reason() == Decision.Reason.RATE_LIMITED) {
                if (best == null || d.retryAfterMicros() < best.retryAfterMicros()) {
                    best = d;
                }
            } else {
                other = d;
            }
        }
        if (best != null) {
            long wait = best.retryAfterMicros();
            if (minCool != Long.MAX_VALUE) {
                wait = Math.min(wait, minCool * 1000);
            }
            return new Attempt(null, null, null, Math.max(1, wait), false, best);
        }
        if (minCool != Long.MAX_VALUE) {
            return new Attempt(null, null, null, minCool * 1000, true, null);
        }
        return new Attempt(null, null, null, 0, false, other, removed == n, null);
    }

    /**
     * The waiting room of one model's pool, fair between tenants: when quota frees, the oldest call of the next
     * tenant in turn gets it, so a tenant with many waiting calls cannot starve one with few. One timer per pool,
     * set at the moment the limiter predicts. A call whose deadline comes before that moment is tried on its own:
     * served at once if its cost fits, refused at once (with its own predicted wait) if that wait passes its
     * deadline too.
     */
    private final class Gate {
        private final Map<String, ArrayDeque<Waiter>> queues = new LinkedHashMap<>();
        private final ArrayDeque<String> turn = new ArrayDeque<>();
        private @Nullable ScheduledFuture<?> timer;
        /** Whether calls wait here; read without the lock by the fast path. */
        volatile boolean busy;
        /** Whether a wake for a refund is queued and has not run yet: refunds in a burst wake the room once. */
        final java.util.concurrent.atomic.AtomicBoolean wakeQueued = new java.util.concurrent.atomic.AtomicBoolean();

        synchronized void submit(Waiter w) {
            busy = true; // before its first look: a refund meanwhile must wake this room
            try {
                submitLocked(w);
            } finally {
                busy = !turn.isEmpty();
            }
        }

        synchronized void pump() {
            try {
                pumpLocked();
            } finally {
                busy = !turn.isEmpty();
            }
        }

        private void submitLocked(Waiter w) {
            ArrayDeque<Waiter> q = queues.get(w.ticket.tenant.name());
            if (q == null) {
                q = new ArrayDeque<>();
                queues.put(w.ticket.tenant.name(), q);
                turn.addLast(w.ticket.tenant.name());
            }
            q.addLast(w);
            if (q.size() == 1 && turn.size() == 1) {
                pumpLocked(); // nobody else waits: try at once
            }
        }

        /**
         * Serves the waiting calls in turn until one must wait, then sets the timer. The timer is set in a
         * {@code finally}: a room with calls waiting and no timer would wait for ever.
         */
        private void pumpLocked() {
            if (timer != null) {
                timer.cancel(false);
                timer = null;
            }
            long wakeMicros = 0;
            try {
                wakeMicros = serveLocked();
            } finally {
                if (!turn.isEmpty()) {
                    timer = TIMERS.schedule(() -> executor.execute(this::pump),
                            wakeMicros > 0 ? wakeMicros : RETRY_MICROS, TimeUnit.MICROSECONDS);
                }
            }
        }

        /** Serves what it can; returns the wait until the front call may be served, 0 if none waits. */
        private long serveLocked() {
            while (!turn.isEmpty()) {
                String tenant = turn.peekFirst();
                ArrayDeque<Waiter> q = queues.get(tenant);
                Waiter w = q == null ? null : q.peekFirst();
                if (w == null) {
                    turn.pollFirst();
                    queues.remove(tenant);
                    continue;
                }
                try {
                    long wait = serveFrontLocked(tenant, q, w);
                    if (wait > 0) {
                        return wait;
                    }
                } catch (RuntimeException e) {
                    // answered whatever failed, so that the calls behind it are still served
                    q.remove(w);
                    refundTenant(w.ticket);
                    w.result.completeExceptionally(e);
                    drop(tenant, q);
                }
            }
            return 0;
        }

        /**
         * Serves or refuses {@code w}, the front call, and refuses the calls that cannot wait for it; returns the wait
         * until it may be served if it must wait (the room is left non-empty then), else 0.
         */
        private long serveFrontLocked(String tenant, ArrayDeque<Waiter> q, Waiter w) {
            long now = System.nanoTime();
            if (w.result.isDone() || now > w.deadline) {
                q.pollFirst();
                finish(w, null, 1_000_000, false);
                drop(tenant, q);
                return 0;
            }
            Attempt a = tryKeys(w.model, w.tokens);
            if (a.key != null) {
                q.pollFirst();
                grant(w.ticket, a, w.result);
                turn.pollFirst();
                if (!q.isEmpty()) {
                    turn.addLast(tenant); // next tenant's turn
                } else {
                    queues.remove(tenant);
                }
                return 0;
            }
            if (a.waitMicros == 0) {
                // not about quota (backend down, keys removed): refuse this call, try the next
                q.pollFirst();
                finish(w, a, 1_000_000);
                drop(tenant, q);
                return 0;
            }
            long ready = now + a.waitMicros * 1000;
            long wake = a.waitMicros;
            for (ArrayDeque<Waiter> each : queues.values()) {
                for (java.util.Iterator<Waiter> it = each.iterator(); it.hasNext(); ) {
                    Waiter x = it.next();
                    if (x.deadline >= ready) {
                        continue;
                    }
                    if (x == w) {
                        it.remove();
                        finish(x, a.denial, a.waitMicros, a.cooling);
                        continue;
                    }
                    long own = serveOutOfTurnLocked(x, now);
                    if (own == 0) {
                        it.remove();
                    } else {
                        wake = Math.min(wake, own);
                    }
                }
            }
            turn.removeIf(t -> queues.get(t).isEmpty());
            queues.values().removeIf(ArrayDeque::isEmpty);
            return turn.isEmpty() ? 0 : wake;
        }

        /**
         * A call that cannot wait for the front one: granted now if its own cost fits, refused if its own wait passes
         * its deadline (0 for both: it leaves the room), else left waiting; then returns its own wait.
         */
        private long serveOutOfTurnLocked(Waiter x, long now) {
            if (x.result.isDone()) { // its caller left: it takes nothing
                finish(x, null, 1_000_000, false);
                return 0;
            }
            if (now > x.deadline) { // its deadline passed while the pool's timer was late: refused, never sent late
                finish(x, null, 1_000_000, false);
                return 0;
            }
            Attempt ax;
            try {
                ax = tryKeys(x.model, x.tokens);
            } catch (RuntimeException e) {
                refundTenant(x.ticket);
                x.result.completeExceptionally(e);
                return 0;
            }
            if (ax.key != null) {
                grant(x.ticket, ax, x.result);
                return 0;
            }
            if (ax.waitMicros == 0) {
                finish(x, ax, 1_000_000);
                return 0;
            }
            if (now + ax.waitMicros * 1000 > x.deadline) {
                finish(x, ax.denial, ax.waitMicros, ax.cooling);
                return 0;
            }
            return ax.waitMicros;
        }

        private void drop(String tenant, ArrayDeque<Waiter> q) {
            if (q.isEmpty()) {
                queues.remove(tenant);
                turn.remove(tenant);
            }
        }

        /** Refuses a waiting call that {@code a} could not serve. Never throws. */
        private void finish(Waiter w, Attempt a, long waitMicros) {
            if (a.removed) {
                refundTenant(w.ticket);
                w.result.complete(new Outcome(null, new Refusal(Scope.PROVIDER, waitMicros, null,
                        "A configuration reload removed the provider keys this call was waiting for; retry.")));
                return;
            }
            finish(w, a.denial, waitMicros, a.cooling);
        }

        /** Refuses a waiting call: out of time, or not admissible. Never throws. */
        private void finish(Waiter w, @Nullable Decision denial, long waitMicros, boolean cooling) {
            refundTenant(w.ticket);
            if (w.result.isDone()) {
                return;
            }
            if (denial != null && denial.reason() != Decision.Reason.RATE_LIMITED) {
                w.result.complete(new Outcome(null, refusal(denial, Scope.PROVIDER)));
            } else if (denial != null) {
                w.result.complete(new Outcome(null, refusal(denial.asDeadlineExceeded(), Scope.PROVIDER)));
            } else if (cooling) {
                w.result.complete(new Outcome(null, new Refusal(Scope.COOLDOWN, Math.max(1, waitMicros), null,
                        "The provider asked us to slow down; every key of its pool is cooling down.")));
            } else {
                w.result.complete(new Outcome(null, new Refusal(Scope.PROVIDER, Math.max(1, waitMicros), null,
                        "Waited the gateway's maximum for the provider's limits; retry later.")));
            }
        }
    }

    /** Hands the call its key; if its caller gave up meanwhile (cancelled), gives back what it was charged. */
    private void grant(Ticket t, Attempt a, CompletableFuture<Outcome> result) {
        t.key = java.util.Objects.requireNonNull(a.key);
        t.keyCost = java.util.Objects.requireNonNull(a.cost);
        t.keyDecision = java.util.Objects.requireNonNull(a.decision);
        t.keyPolicy = java.util.Objects.requireNonNull(a.policy);
        if (!result.complete(new Outcome(t, null))) {
            settle(t, 0, false);
        }
    }

    /**
     * Gives the tenant's charge back. Never throws: a refund that fails (the backend down, or a reload that took a
     * dimension of the cost out of the tenant's policy) leaves the charge standing: safe, never over the limit.
     */
    private void refundTenant(Ticket t) {
        if (t.tenantDecision != null && t.tenantCost != null && t.tenant.limiterKey() != null) {
            t.tenantDecision = null;
            try {
                limiter.refund(t.tenant.limiterKey(), t.tenantCost);
            } catch (RuntimeException e) {
                LOG.debug("tenant refund failed, the charge stays: {}", e.toString());
            }
        }
    }

    /**
     * Settles a ticket once: {@code actualTokens} replaces the reservation (refund or extra charge on the tenant and
     * the key); if {@code requestCounted} is false (the provider never saw the call) the request is refunded too.
     */
    public void settle(Ticket t, long actualTokens, boolean requestCounted) {
        settle(t, actualTokens, requestCounted, requestCounted);
    }

    /**
     * As {@link #settle(Ticket, long, boolean)}, the tenant's request kept only if {@code tenantRequestCounted}: a
     * call answered 429 and retried keeps the key's request (the provider counted it) but not the tenant's, which
     * the retry charges again.
     */
    public void settle(Ticket t, long actualTokens, boolean requestCounted, boolean tenantRequestCounted) {
        synchronized (t) {
            if (t.settled) {
                return;
            }
            t.settled = true;
        }
        executor.execute(() -> {
            // each side on its own: a settlement that fails leaves that side's reservation standing (safe, never
            // over the limit), and the other side is settled all the same
            if (t.tenant.limiterKey() != null && t.tenantCost != null) {
                try {
                    adjust(t.tenant.limiterKey(), t.tenant.policy(), charged(t.tenantCost, t.reservedTokens),
                            actualTokens, tenantRequestCounted);
                } catch (RuntimeException e) {
                    LOG.debug("tenant settlement failed, the reservation stays: {}", e.toString());
                }
            }
            if (t.key != null) {
                // a provider that counts max_tokens in full keeps the whole reservation of a call it admitted that
                // reserved output (an answered call, or one whose client left mid-answer)
                long counted = t.key.chargesMaxTokens() && actualTokens > 0 && t.reservedOutput > 0
                        ? Math.max(actualTokens, t.reservedTokens) : actualTokens;
                try {
                    if (adjust(t.key.limiterKey(), t.keyPolicy, charged(t.keyCost, t.reservedTokens), counted,
                            requestCounted)) {
                        wakeWaitingRooms();
                    }
                } catch (RuntimeException e) {
                    LOG.debug("provider key settlement failed, the reservation stays: {}", e.toString());
                }
            }
        });
    }

    /**
     * Has every waiting room with calls in it look again, from its timer thread (never inside a room's lock): a key
     * was given quota back, which its waiting calls need not wait for the window to learn.
     */
    private void wakeWaitingRooms() {
        for (Gate g : gates.values()) {
            if (g.busy && g.wakeQueued.compareAndSet(false, true)) {
                TIMERS.execute(() -> executor.execute(() -> {
                    g.wakeQueued.set(false); // refunds from now on queue another look
                    g.pump();
                }));
            }
        }
    }

    /**
     * The tokens a side was charged: its reservation, or the one token a call of none is charged under a policy of
     * tokens only.
     */
    private static long charged(@Nullable Cost cost, long reserved) {
        return cost == null ? reserved : Math.max(reserved, cost.units("tokens"));
    }

    /** Settles one side; returns whether it gave anything back. */
    private boolean adjust(String key, @Nullable Policy p, long reserved, long actual, boolean requestCounted) {
        if (p == null) {
            return false;
        }
        // nothing reserved (a call of no tokens): what it used is charged all the same
        long diff = p.hasDimension("tokens") ? actual - Math.max(0, reserved) : 0;
        Cost refund = null;
        if (!requestCounted && p.hasDimension("requests")) {
            refund = Cost.request();
        }
        if (diff < 0) {
            refund = refund == null ? Cost.tokens(-diff) : refund.and("tokens", -diff);
        }
        if (refund != null) {
            limiter.refund(key, refund);
        }
        if (diff > 0) {
            Cost extra = Cost.tokens(Math.min(diff, maxTokens(p)));
            Decision d = limiter.tryAcquire(key, extra);
            if (!d.granted()) {
                // Used more than reserved and the limit is spent: charge it as soon as it frees, so that later
                // calls wait for it instead of going over.
                limiter.acquireAsync(key, extra, Duration.of(p.restMicros(), ChronoUnit.MICROS));
            }
        }
        return refund != null;
    }

    /** The cost of a call on {@code p}: the dimensions it counts; null if none. */
    static @Nullable Cost cost(Policy p, long tokens) {
        Cost c = p.hasDimension("requests") ? Cost.request() : null;
        if (tokens > 0 && p.hasDimension("tokens")) {
            c = c == null ? Cost.tokens(tokens) : c.and("tokens", tokens);
        }
        if (c == null) {
            // a policy of tokens only, and a call of no tokens: one token keeps the cost valid
            c = Cost.tokens(1);
        }
        return c;
    }

    /** The most tokens one call may cost under {@code p}. */
    static long maxTokens(Policy p) {
        long max = Long.MAX_VALUE;
        for (Limit l : p.limits()) {
            if (l.dimension().equals("tokens")) {
                max = Math.min(max, l.maxCost());
            }
        }
        return max;
    }

    private static @Nullable Refusal tooLarge(@Nullable Policy p, String whose, long tokens) {
        if (p == null || tokens <= 0) {
            return null;
        }
        long max = maxTokens(p);
        if (tokens > max) {
            return new Refusal(Scope.TOO_LARGE, 0, null, "This request needs up to " + tokens + " tokens (its input "
                    + "plus the most it may answer), more than the " + whose + " limit admits in one call (" + max
                    + ").");
        }
        return null;
    }

    private static Refusal refusal(Decision d, Scope scope) {
        if (d.reason() == Decision.Reason.BACKEND_UNAVAILABLE || d.reason() == Decision.Reason.KEY_LIMIT_REACHED) {
            return new Refusal(Scope.BACKEND, Math.max(1_000_000, d.retryAfterMicros()), d,
                    "The rate limiter cannot decide now; retry later.");
        }
        String who = scope == Scope.TENANT ? "your tenant's share" : "the provider's limits";
        return new Refusal(scope, d.retryAfterMicros(), d, "Rate limit reached on " + who + (d.boundBy() == null ? ""
                : " (" + d.boundBy().dimension() + ")") + "; the wait exceeds the gateway's maximum wait. Retry after "
                + "the time in the Retry-After header.");
    }
}

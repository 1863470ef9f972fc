package dev.sluice.core.queue;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.RateLimiter;
import dev.sluice.api.Ticker;
import dev.sluice.api.queue.Job;
import dev.sluice.api.queue.JobQueue;
import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Lease;
import dev.sluice.api.queue.Priority;
import dev.sluice.core.SluiceLimiter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.ToIntFunction;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Drains a {@link JobQueue} at the rate a {@link RateLimiter} allows, so the upstream never sees more than the limits
 * admit. Build one with {@link #builder}; it starts at once:
 *
 * <pre>{@code
 * Dispatcher<String> d = Dispatcher.builder(queue, limiter, job -> callTheModel(job.payload()))
 *         .cost(job -> Cost.request().and("tokens", estimate(job)))
 *         .weights(tenant -> tenant.equals("premium") ? 3 : 1)
 *         .build();
 * CompletableFuture<String> answer = d.submit(JobRequest.builder(bytes).tenant("acme").build());
 * }</pre>
 *
 * <p>One coordinator thread chooses the next job: the highest priority class with visible work first; within a
 * class, start-time fair queuing between tenants, so each backlogged tenant gets its weight's share of the jobs
 * started however many jobs the others submit. It then asks the limiter for the job's cost with {@code tryAcquire}:
 * granted, a worker runs the job; denied, the coordinator sleeps exactly the {@code retryAfter} the limiter
 * predicted (new jobs, a freed worker, a cancellation, {@link #close()} or, with a {@link SluiceLimiter},
 * a refund on the job's limiter key wake it earlier), never polling. A job whose
 * deadline the predicted wait would miss is rejected at once with {@link DeadlineUnreachableException}.
 *
 * <p>{@link #submit} returns a future of the handler's result. A future completes with a result only for jobs this
 * dispatcher runs: on a shared queue another instance may run a job submitted here, so a future whose job has not
 * come to run here fails at the job's deadline ({@link DeadlineUnreachableException}) or after
 * {@link Builder#futureTimeout} ({@link TimeoutException}), and is forgotten. Cancelling the future removes a
 * waiting job, or one taken and not yet started here (refunding the limiter if it was admitted); a running job
 * finishes, its result dropped. A handler that throws gives the job back for
 * another delivery; after the queue's last delivery it is dead-lettered and its future fails with the handler's
 * exception.
 *
 * <p>Handlers should finish within the queue's lease (the dispatcher renews it when a job it held for the limiter
 * starts), otherwise the job
 * may also run elsewhere. Threads are daemons.
 *
 * @param <R> the result type of the handler
 */
public final class Dispatcher<R> implements AutoCloseable {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    /** Virtual time one job of a tenant of weight 1 uses up. */
    private static final long SHARE = 1L << 20;
    private static final long MIN_RETRY_MICROS = 1_000;
    /** The most jobs taken from one lane at once (never more than the free workers). */
    private static final int MAX_BATCH = 16;
    private static final long UNAVAILABLE_RETRY_MICROS = 100_000;
    private static final long SETTLED_IDS = 100_000;
    /**
     * The most outcomes kept for submits in flight (they hold results); a submit whose enqueue outlasts that many
     * settlings of jobs like its own here may miss its job's, and its future then fails at once with
     * {@link IllegalStateException}.
     */
    private static final int MAX_EARLY = 1_000;

    private final String name;
    private final JobQueue queue;
    private final RateLimiter limiter;
    private final JobHandler<R> handler;
    private final Function<Job, String> limiterKey;
    private final Function<Job, Cost> cost;
    private final ToIntFunction<String> weights;
    private final Ticker ticker;
    private final int workers;
    private final long idlePollMicros;
    private final long graceMicros;
    private final long leaseMicros;
    private final QueueObserver observer;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition wake = lock.newCondition();
    /** Guarded by {@link #lock}: wake-ups not yet seen by the coordinator. */
    private boolean signalled;
    private volatile boolean closing;
    /** Set once close() has taken its last look at the pending futures; guarded by {@code futures}. */
    private boolean swept;
    /**
     * The tickets of the submits between their enqueue and their future's registration, and the next ticket; guarded
     * by {@code futures}. A job of theirs may already run and finish before its future is registered: its outcome
     * waits in {@link #early} for them.
     */
    private final TreeMap<Long, JobRequest> enqueuing = new TreeMap<>();
    private long nextTicket;
    /**
     * Outcomes of jobs settled with no future here while submits were in flight, in settling order, for those submits
     * to find; guarded by {@code futures}. Each goes once no submit in flight at its settling is left; at most
     * {@link #MAX_EARLY} are kept.
     */
    private final Map<String, Early<R>> early = new LinkedHashMap<>();

    private final Map<String, CompletableFuture<R>> futures = new ConcurrentHashMap<>();
    /**
     * When each pending future gives up on its job coming to run here, soonest first, and by job id; guarded by
     * {@code futures}, and left with the future: as many entries as pending futures.
     */
    private final TreeSet<Expiry> expiries = new TreeSet<>(Comparator.comparingLong(Expiry::atMicros)
            .thenComparing(Expiry::id));
    /** Each pending future's entry in {@link #expiries}; guarded by {@code futures}. */
    private final Map<String, Expiry> expiryOf = new HashMap<>();
    private final long futureTimeoutMicros;
    /** Coordinator only: when {@link #expiries} was last looked at. */
    private long sweptAt;
    /** Ids of jobs whose futures this dispatcher settled, so a resubmitted idempotency key gets an answer. */
    private final Cache<String, Boolean> settled =
            Caffeine.newBuilder().maximumSize(SETTLED_IDS).expireAfterWrite(Duration.ofDays(1)).build();
    /**
     * Ids of jobs whose futures were cancelled while the queue held them leased (here, or elsewhere: they may come
     * back), so they are not run here; bounded like {@link #settled}, so cancellations of jobs settled elsewhere do
     * not pile up.
     */
    private final Cache<String, Boolean> cancelledIds =
            Caffeine.newBuilder().maximumSize(SETTLED_IDS).expireAfterWrite(Duration.ofDays(1)).build();
    private final Map<String, Running> running = new ConcurrentHashMap<>();
    private final AtomicInteger busy = new AtomicInteger();
    /** Jobs taken and not yet started, oldest choice first; the first one waits for the limiter. */
    private final ConcurrentLinkedDeque<Lease> ready = new ConcurrentLinkedDeque<>();
    /** Coordinator only: when the leases in {@link #ready} were taken or last renewed. */
    private long extendedAt;

    /** Per priority class: each tenant's virtual finish time, and the class's virtual clock. */
    private final List<Map<String, Long>> finish = new ArrayList<>();
    private final long[] virtualNow = new long[Priority.values().length];

    private final ThreadPoolExecutor pool;
    private final Thread coordinator;
    private final AutoCloseable subscription;
    /** Stops the refund calls of a {@link SluiceLimiter}; nothing for another limiter. */
    private final AutoCloseable refundSubscription;
    /** The limiter key of the coordinator's last look, which it may be waiting for. */
    private volatile @Nullable String waitingKey;
    /** Refunds on {@link #waitingKey} so far: the coordinator stops waiting when it moves. */
    private final AtomicLong refundsOnWaitingKey = new AtomicLong();

    private Dispatcher(Builder<R> b) {
        this.name = b.name;
        this.queue = b.queue;
        this.limiter = b.limiter;
        this.handler = b.handler;
        this.limiterKey = b.limiterKey;
        this.cost = b.cost;
        this.weights = b.weights;
        this.ticker = b.ticker;
        this.workers = b.workers;
        this.idlePollMicros = b.idlePoll.toNanos() / 1000;
        this.graceMicros = b.gracePeriod.toNanos() / 1000;
        this.leaseMicros = queue.leaseDuration().toNanos() / 1000;
        this.futureTimeoutMicros = saturatedMicros(b.futureTimeout);
        QueueObserver o = b.observer;
        if (b.registry != null) {
            QueueMetrics metrics = new QueueMetrics(name, queue);
            metrics.bindTo(b.registry);
            o = o == QueueObserver.NONE ? metrics : QueueObserver.tee(o, metrics);
        }
        this.observer = o;
        for (int i = 0; i < Priority.values().length; i++) {
            finish.add(new HashMap<>());
        }
        AtomicInteger threads = new AtomicInteger();
        this.pool = new ThreadPoolExecutor(workers, workers, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(),
                r -> {
                    Thread t = new Thread(r, "sluice-dispatcher-" + name + "-worker-" + threads.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        this.subscription = queue.onEnqueue(this::signal);
        this.refundSubscription = limiter instanceof SluiceLimiter s ? s.onRefund(this::refunded)
                : () -> { };
        this.coordinator = new Thread(this::coordinate, "sluice-dispatcher-" + name);
        coordinator.setDaemon(true);
        coordinator.start();
    }

    /** A builder of a dispatcher running {@code handler} on the jobs of {@code queue} as {@code limiter} admits. */
    public static <R> Builder<R> builder(JobQueue queue, RateLimiter limiter, JobHandler<R> handler) {
        return new Builder<>(Objects.requireNonNull(queue, "queue"), Objects.requireNonNull(limiter, "limiter"),
                Objects.requireNonNull(handler, "handler"));
    }

    /** This dispatcher's name, its metrics' {@code dispatcher} tag. */
    public String name() {
        return name;
    }

    /**
     * Enqueues a job and returns a future of its result, completed when this dispatcher runs it (see the class
     * comment). Submitting a known idempotency key again returns the first submission's future while it is pending,
     * and a future failed with {@link IllegalStateException} once this dispatcher has settled that job (results are
     * not kept; settled ids are remembered for a day, at most 100,000 of them). A key whose job another instance
     * holds or settled gets a future that completes only if the job comes to run here.
     *
     * @throws dev.sluice.api.queue.QueueFullException if the queue is full
     */
    public CompletableFuture<R> submit(JobRequest request) {
        if (closing) {
            return CompletableFuture.failedFuture(new RejectedExecutionException("dispatcher " + name + " is closed"));
        }
        if (request.deadlineMicros() <= ticker.nowMicros()) {
            return CompletableFuture.failedFuture(new DeadlineUnreachableException("(not enqueued)", 0));
        }
        CompletableFuture<R> f = new CompletableFuture<>();
        String id;
        long ticket;
        synchronized (futures) {
            if (swept) { // close() passed its last look at the futures: nothing would complete this one
                return CompletableFuture.failedFuture(new RejectedExecutionException("dispatcher " + name
                        + " is closed"));
            }
            ticket = nextTicket++;
            enqueuing.put(ticket, request);
        }
        // Outside the lock, so submits reach the store concurrently; a job that finishes before its future is
        // registered below leaves its outcome in early.
        try {
            id = queue.enqueue(request);
        } catch (RuntimeException | Error e) {
            synchronized (futures) {
                leaveEnqueuing(ticket);
            }
            throw e;
        }
        Early<R> outcome;
        synchronized (futures) {
            outcome = early.get(id);
            if (outcome != null && outcome.mark() <= ticket) {
                outcome = null; // settled before this submit began: it is told so below, as without submits in flight
            }
            leaveEnqueuing(ticket);
            if (outcome == null) {
                if (swept) { // close() took its last look while this enqueued: the job stays queued
                    return CompletableFuture.failedFuture(new RejectedExecutionException("dispatcher " + name
                            + " closed while job " + id + " was enqueued; it stays queued"));
                }
                CompletableFuture<R> known = futures.get(id);
                if (known != null) {
                    return known;
                }
                if (settled.getIfPresent(id) != null) {
                    return CompletableFuture.failedFuture(new IllegalStateException("job " + id
                            + (request.idempotencyKey() == null ? "" : " of idempotency key "
                                    + request.idempotencyKey()) + " already finished here; its result is not kept"));
                }
                futures.put(id, f);
                long now = ticker.nowMicros();
                long timeout = now + futureTimeoutMicros < now ? Long.MAX_VALUE : now + futureTimeoutMicros;
                Expiry x = new Expiry(Math.min(request.deadlineMicros(), timeout), id,
                        request.deadlineMicros() <= timeout, request.priority());
                expiries.add(x);
                expiryOf.put(id, x);
                cancelledIds.invalidate(id); // submitted again after a cancellation: it runs for this submission
            }
        }
        if (outcome != null) {
            // the job ran and settled here before this submit came back: its outcome at once
            outcome.settle().accept(f);
            return f;
        }
        Priority priority = request.priority(); // not the request: a pending future must not keep its payload
        f.whenComplete((r, e) -> {
            if (f.isCancelled()) {
                boolean removed;
                try {
                    removed = queue.cancel(id); // waiting: gone for good
                } catch (RuntimeException storeDown) {
                    removed = false;
                }
                if (removed) {
                    claimFuture(id);
                    observer.onOutcome(priority, QueueObserver.Outcome.CANCELLED);
                } else {
                    // Leased: taken and not yet among the ready jobs, admitted and not yet started, or held
                    // elsewhere. The coordinator and the workers skip it if it is (or comes back) here.
                    cancelledIds.put(id, Boolean.TRUE);
                    synchronized (futures) {
                        if (futures.remove(id, f)) {
                            forgetExpiry(id);
                        }
                    }
                }
                // Taken but not started: drop it from the ready jobs and finish it.
                for (Lease l : ready) {
                    if (l.job().id().equals(id) && ready.remove(l)) {
                        cancelled(l);
                    }
                }
                signal();
            }
        });
        signal();
        return f;
    }

    /** The ids of the jobs this dispatcher holds right now: running, or taken and waiting for the limiter. */
    public Set<String> pending() {
        Set<String> ids = new HashSet<>(running.keySet());
        for (Lease l : ready) {
            ids.add(l.job().id());
        }
        return ids;
    }

    /** A refund through the limiter: wakes the coordinator if it waits for that key. */
    private void refunded(String key) {
        if (key.equals(waitingKey)) {
            refundsOnWaitingKey.incrementAndGet();
            lock.lock();
            try {
                wake.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    private void signal() {
        lock.lock();
        try {
            signalled = true;
            wake.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Sleeps up to {@code micros} or until signalled; returns at once if a signal came since the last wait. */
    private void await(long micros) {
        lock.lock();
        try {
            long nanos = TimeUnit.MICROSECONDS.toNanos(micros);
            while (!signalled && !closing && nanos > 0) {
                nanos = wake.awaitNanos(nanos);
            }
            signalled = false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            lock.unlock();
        }
    }

    /** Keeps the leases of the jobs held for the limiter alive (renewed every third of a lease), dropping lost ones. */
    private void renewHeldLeases(long now) {
        if (now - extendedAt > leaseMicros / 3) {
            ready.removeIf(l -> !queue.extend(l));
            extendedAt = now;
        }
    }

    /** Removes a job that can never run: acked, counted as failed, its future failed with {@code e}. */
    private void failForGood(Lease h, RuntimeException e) {
        if (ready.remove(h)) {
            queue.ack(h);
        }
        observer.onOutcome(h.job().priority(), QueueObserver.Outcome.FAILED);
        fail(h.job(), e);
    }

    private void coordinate() {
        while (!closing && !Thread.currentThread().isInterrupted()) {
            try {
                giveUpOnFutures();
                Lease h = ready.peekFirst();
                if (h == null) {
                    int free = workers - busy.get();
                    if (free <= 0) {
                        await(idlePollMicros);
                        continue;
                    }
                    if (!next(Math.min(free, MAX_BATCH))) {
                        await(idlePollMicros);
                        continue;
                    }
                    extendedAt = ticker.nowMicros();
                    continue;
                }
                Job job = h.job();
                if (isCancelled(job.id())) {
                    if (ready.remove(h)) {
                        cancelled(h);
                    }
                    continue;
                }
                long now = ticker.nowMicros();
                if (job.deadlineMicros() <= now) {
                    if (ready.remove(h)) {
                        expire(h, 0);
                    }
                    continue;
                }
                Decision d;
                long refundsSeen = refundsOnWaitingKey.get();
                String key;
                Cost units;
                try {
                    key = limiterKey.apply(job);
                    units = cost.apply(job);
                } catch (RuntimeException e) {
                    // The job's own key or cost cannot be had: it can never run.
                    failForGood(h, e);
                    continue;
                }
                waitingKey = key; // before the look: a refund after it wakes the wait below
                try {
                    d = limiter.tryAcquire(key, units);
                } catch (IllegalArgumentException e) {
                    // The cost can never be admitted (more than a limit holds, a dimension it has not): never runs.
                    failForGood(h, e);
                    continue;
                } catch (RuntimeException e) {
                    // The limiter failed (a store it runs on is unreachable): the job waits, its lease kept, and
                    // is looked at again; its deadline still applies.
                    renewHeldLeases(now);
                    await(UNAVAILABLE_RETRY_MICROS);
                    continue;
                }
                if (d.granted()) {
                    if (ready.remove(h)) {
                        start(h, d);
                    } else {
                        // Cancelled meanwhile (and already acked): give the units back.
                        limiter.refund(limiterKey.apply(job), cost.apply(job));
                    }
                    continue;
                }
                long wait = d.reason() == Decision.Reason.RATE_LIMITED
                        ? Math.max(MIN_RETRY_MICROS, d.retryAfterMicros())
                        : Math.max(UNAVAILABLE_RETRY_MICROS, d.retryAfterMicros());
                if (job.hasDeadline() && now + wait > job.deadlineMicros()) {
                    if (ready.remove(h)) {
                        expire(h, wait);
                    }
                    continue;
                }
                renewHeldLeases(now);
                sleepExactly(Math.min(wait, Math.max(1, leaseMicros / 3)), h, refundsSeen);
            } catch (RuntimeException e) {
                // The queue's store failed; try again a little later rather than dying.
                await(UNAVAILABLE_RETRY_MICROS);
            }
        }
        Lease h;
        while ((h = ready.pollFirst()) != null) {
            giveBack(h);
        }
    }

    /**
     * Sleeps for the limiter's predicted wait; only close(), the waiting job's cancellation or a refund on its limiter
     * key since the count was {@code refundsSeen} cut it short.
     */
    private void sleepExactly(long micros, Lease waiting, long refundsSeen) {
        lock.lock();
        try {
            long nanos = TimeUnit.MICROSECONDS.toNanos(micros);
            while (!closing && nanos > 0 && ready.peekFirst() == waiting && refundsOnWaitingKey.get() == refundsSeen) {
                nanos = wake.awaitNanos(nanos);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Takes the next jobs, up to {@code max} of one lane, into {@link #ready}: the highest class first, then the
     * tenant with the earliest virtual start time, charged one share per job taken.
     */
    private boolean next(int max) {
        Map<Priority, Set<String>> lanes = queue.tenantsByPriority();
        for (Priority p : Priority.values()) {
            Set<String> tenants = lanes.getOrDefault(p, Set.of());
            if (tenants.isEmpty()) {
                continue;
            }
            Map<String, Long> f = finish.get(p.ordinal());
            List<String> candidates = new ArrayList<>(tenants);
            while (!candidates.isEmpty()) {
                String best = null;
                long bestStart = Long.MAX_VALUE;
                for (String t : candidates) {
                    long start = Math.max(f.getOrDefault(t, 0L), virtualNow[p.ordinal()]);
                    if (start < bestStart) {
                        bestStart = start;
                        best = t;
                    }
                }
                List<Lease> taken = queue.take(p, best, max);
                if (taken.isEmpty()) {
                    candidates.remove(best);
                    continue;
                }
                virtualNow[p.ordinal()] = bestStart;
                int weight = Math.max(1, weights.applyAsInt(best));
                f.put(best, bestStart + taken.size() * (SHARE / weight));
                if (f.size() > 10_000) {
                    long vnow = bestStart;
                    f.values().removeIf(v -> v <= vnow);
                }
                ready.addAll(taken);
                return true;
            }
        }
        return false;
    }

    private void start(Lease lease, Decision decision) {
        Job job = lease.job();
        // A job held a while for the limiter starts with a fresh lease; one taken just now already has one.
        Running r = new Running(lease, ticker.nowMicros() - extendedAt > leaseMicros / 10);
        running.put(job.id(), r);
        busy.incrementAndGet();
        observer.onStart(job.priority(), Math.max(0, ticker.nowMicros() - job.enqueuedAtMicros()));
        try {
            pool.execute(() -> run(r));
        } catch (RejectedExecutionException e) {
            leave(r);
            limiter.refund(limiterKey.apply(job), cost.apply(job));
            giveBack(lease);
        }
    }

    private void run(Running r) {
        Lease lease = r.lease;
        Job job = lease.job();
        r.thread = Thread.currentThread();
        try {
            boolean cancelled = isCancelled(job.id());
            if (cancelled || closing) {
                // Admitted but not started: give the units back.
                limiter.refund(limiterKey.apply(job), cost.apply(job));
                if (closing && !cancelled) {
                    leave(r);
                    giveBack(lease);
                } else {
                    leave(r);
                    cancelled(lease);
                }
                return;
            }
            if (r.renew && !renewed(r)) {
                return;
            }
            R result;
            try {
                result = handler.handle(job);
            } catch (Exception | Error e) {
                if (!r.settling.compareAndSet(false, true)) {
                    return; // close() gave the job back meanwhile
                }
                boolean last = job.deliveries() >= queue.maxDeliveries();
                // Counted before the release: once released, another worker may run, fail and settle the job first.
                observer.onOutcome(job.priority(), last ? QueueObserver.Outcome.DEAD_LETTERED
                        : QueueObserver.Outcome.FAILED);
                queue.release(lease);
                // claimed before leaving: a future sweep in between would take the job for one run elsewhere
                CompletableFuture<R> failed = last ? claimFuture(job, x -> x.completeExceptionally(e)) : null;
                leave(r);
                if (failed != null) {
                    failed.completeExceptionally(e);
                }
                return;
            }
            if (!r.settling.compareAndSet(false, true)) {
                return; // close() gave the job back meanwhile: it runs again elsewhere, not acked here
            }
            queue.ack(lease);
            observer.onOutcome(job.priority(), QueueObserver.Outcome.DONE);
            // Claimed before leaving (a future sweep in between would take the job for one run elsewhere), and
            // completed after, so a caller woken by its future never sees the job still pending here.
            R ran = result;
            CompletableFuture<R> done = claimFuture(job, x -> x.complete(ran));
            leave(r);
            if (done != null) {
                done.complete(result);
            }
        } catch (RuntimeException e) {
            // The queue's store failed on ack or release: the lease will expire and the job run again.
        } finally {
            leave(r);
            signal();
        }
    }

    /**
     * Renews the lease of a job held a while for the limiter, before it starts. If the lease is lost (it expired and
     * the job may be running elsewhere) or the store cannot tell, the job does not run here: its units go back to the
     * limiter, and the queue delivers it again.
     */
    private boolean renewed(Running r) {
        Job job = r.lease.job();
        boolean held;
        RuntimeException failure = null;
        try {
            held = queue.extend(r.lease);
        } catch (RuntimeException e) {
            held = false;
            failure = e;
        }
        if (held) {
            return true;
        }
        limiter.refund(limiterKey.apply(job), cost.apply(job));
        leave(r);
        if (failure != null) {
            try {
                queue.release(r.lease); // visible again at once if the store is back; else the lease expires
            } catch (RuntimeException ignored) {
                // The lease expires by itself.
            }
        }
        return false;
    }

    /**
     * The job is no longer this dispatcher's (idempotent). Its worker is free even if a later delivery of the same job
     * to this dispatcher (its lease expired while it ran) has since replaced it in {@link #running}.
     */
    private void leave(Running r) {
        if (r.left.compareAndSet(false, true)) {
            running.remove(r.lease.job().id(), r);
            busy.decrementAndGet();
        }
    }

    /** Whether the job's future was cancelled: it must not start here. */
    private boolean isCancelled(String jobId) {
        CompletableFuture<R> f = futures.get(jobId);
        return f != null ? f.isCancelled() : cancelledIds.getIfPresent(jobId) != null;
    }

    /** Finishes a taken job whose future was cancelled before it started, and forgets the future. */
    private void cancelled(Lease lease) {
        Job job = lease.job();
        CancellationException gone = new CancellationException("job " + job.id() + " was cancelled");
        CompletableFuture<R> f = claimFuture(job, x -> x.completeExceptionally(gone));
        if (f != null) {
            // a resubmission raced with this cancellation's settling: it ends as the job did
            f.completeExceptionally(gone);
        }
        // Forgotten once gone from the queue: a lease lost (or an ack that failed) brings the job back, and it must
        // still be skipped then.
        if (queue.ack(lease)) {
            cancelledIds.invalidate(job.id());
            observer.onOutcome(job.priority(), QueueObserver.Outcome.CANCELLED);
        }
    }

    private void expire(Lease lease, long predictedWait) {
        Job job = lease.job();
        queue.ack(lease);
        observer.onOutcome(job.priority(), QueueObserver.Outcome.EXPIRED);
        fail(job, new DeadlineUnreachableException(job.id(), predictedWait));
    }

    private void giveBack(Lease lease) {
        try {
            queue.release(lease);
        } catch (RuntimeException ignored) {
            // The lease expires by itself.
        }
        fail(lease.job(), new RejectedExecutionException(
                "dispatcher " + name + " closed before running job " + lease.job().id() + "; it was given back"));
    }

    /** Removes and returns a job's future, the job settled here (or its future given up); keeps no outcome. */
    private @Nullable CompletableFuture<R> claimFuture(String jobId) {
        return claimFuture(jobId, null, null);
    }

    /**
     * Removes and returns {@code job}'s future, the job settled here. While submits are between their enqueue and
     * their registration, {@code outcome} is kept for them in {@link #early} if one of them may be about the job (it
     * ran at once, or a resubmission of its key is on its way back); a submit takes it only if it was in flight when
     * the job settled. Never waits.
     */
    private @Nullable CompletableFuture<R> claimFuture(Job job,
            java.util.function.Consumer<CompletableFuture<R>> outcome) {
        return claimFuture(job.id(), job, outcome);
    }

    private @Nullable CompletableFuture<R> claimFuture(String jobId, @Nullable Job job,
            java.util.function.@Nullable Consumer<CompletableFuture<R>> outcome) {
        synchronized (futures) {
            CompletableFuture<R> f = futures.remove(jobId);
            if (f != null) {
                settled.put(jobId, Boolean.TRUE);
                forgetExpiry(jobId);
            }
            // Kept for the submits in flight: the job may be one of theirs (it ran at once), or a resubmission of
            // its idempotency key may be on its way back. Not for a job none of them can be (another instance's).
            if (outcome != null && job != null && mayBeEnqueuing(job)) {
                settled.put(jobId, Boolean.TRUE);
                early.remove(jobId); // re-added last: pruned after the submits in flight now
                early.put(jobId, new Early<>(nextTicket, outcome));
                if (early.size() > MAX_EARLY) {
                    Iterator<String> oldest = early.keySet().iterator();
                    oldest.next();
                    oldest.remove();
                }
            }
            return f;
        }
    }

    /**
     * Whether a submit in flight may be about {@code job}: one with its idempotency key, or one of the same tenant,
     * class, deadline and payload (its own new job); under the lock.
     */
    private boolean mayBeEnqueuing(Job job) {
        for (JobRequest r : enqueuing.values()) {
            if (r.idempotencyKey() != null ? r.idempotencyKey().equals(job.idempotencyKey())
                    : job.idempotencyKey() == null && r.priority() == job.priority()
                            && r.deadlineMicros() == job.deadlineMicros() && r.tenant().equals(job.tenant())
                            && Arrays.equals(r.payload(), job.payload())) {
                return true;
            }
        }
        return false;
    }

    /** Ends submit's ticket and forgets the early outcomes no submit still in flight can ask for; under the lock. */
    private void leaveEnqueuing(long ticket) {
        enqueuing.remove(ticket);
        long oldest = enqueuing.isEmpty() ? Long.MAX_VALUE : enqueuing.firstKey();
        Iterator<Early<R>> it = early.values().iterator();
        while (it.hasNext()) {
            if (it.next().mark() > oldest) {
                break; // settled while a submit still in flight was: it may be that submit's job
            }
            it.remove();
        }
    }

    /** How a job settled while submits were in flight ({@code mark}: the next ticket then); {@code settle} ends one. */
    private record Early<R>(long mark, java.util.function.Consumer<CompletableFuture<R>> settle) {
    }

    /** When the pending future of job {@code id} gives up, and whether that is the job's deadline. */
    private record Expiry(long atMicros, String id, boolean deadline, Priority priority) {
    }

    /** Drops a future's expiry; under the {@code futures} lock. */
    private void forgetExpiry(String id) {
        Expiry x = expiryOf.remove(id);
        if (x != null) {
            expiries.remove(x);
        }
    }

    /**
     * Fails the pending futures whose time has come (looked at once a second at most): their job's deadline passed,
     * or the future timeout, and the job is neither running nor held here. On a shared queue such a job ran, or will
     * run, on another instance, or expired there: its future would never complete, and would be kept forever. A job
     * still waiting in the queue is removed: it would run for nobody.
     */
    private void giveUpOnFutures() {
        long now = ticker.nowMicros();
        if (now - sweptAt < 1_000_000) {
            return;
        }
        sweptAt = now;
        List<Expiry> due = new ArrayList<>();
        synchronized (futures) {
            while (!expiries.isEmpty() && expiries.first().atMicros() <= now) {
                due.add(expiries.pollFirst());
            }
        }
        for (Expiry x : due) {
            CompletableFuture<R> f;
            synchronized (futures) {
                if (expiryOf.get(x.id()) != x) {
                    continue; // settled since
                }
                if (running.containsKey(x.id()) || holds(x.id())) {
                    // here: it settles on its own; looked at again after a lease, should it be given back
                    Expiry later = new Expiry(now + Math.max(1_000_000, leaseMicros), x.id(), x.deadline(),
                            x.priority());
                    expiries.add(later);
                    expiryOf.put(x.id(), later);
                    continue;
                }
                expiryOf.remove(x.id());
                f = futures.remove(x.id());
            }
            boolean removed;
            try {
                removed = queue.cancel(x.id()); // still waiting: it would run for nobody
            } catch (RuntimeException e) {
                removed = false;
            }
            if (removed) {
                observer.onOutcome(x.priority(), x.deadline() ? QueueObserver.Outcome.EXPIRED
                        : QueueObserver.Outcome.CANCELLED);
            }
            if (f != null) {
                f.completeExceptionally(x.deadline() ? new DeadlineUnreachableException(x.id(), 0)
                        : new TimeoutException("job " + x.id() + " did not run on dispatcher " + name + " within "
                                + "the future timeout; on a shared queue another instance may have run it, and its "
                                + "result does not come back here"));
            }
        }
    }

    /** Whether this dispatcher holds the job, taken and not yet started. */
    private boolean holds(String jobId) {
        for (Lease l : ready) {
            if (l.job().id().equals(jobId)) {
                return true;
            }
        }
        return false;
    }

    private static long saturatedMicros(Duration d) {
        try {
            return Math.multiplyExact(d.getSeconds(), 1_000_000L) + d.getNano() / 1000;
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    private void fail(Job job, Throwable e) {
        CompletableFuture<R> f = claimFuture(job, x -> x.completeExceptionally(e));
        if (f != null) {
            f.completeExceptionally(e);
        }
    }

    private void fail(String jobId, Throwable e) {
        CompletableFuture<R> f = claimFuture(jobId);
        if (f != null) {
            f.completeExceptionally(e);
        }
    }

    /**
     * Stops taking jobs, lets running ones finish within the grace period, then interrupts the rest and gives their
     * leases back (as it does with a job it held for the limiter). Futures of jobs not run here fail with a
     * {@link RejectedExecutionException}; the jobs stay queued. Leaves no thread behind.
     */
    @Override
    public void close() {
        if (closing) {
            return;
        }
        closing = true;
        signal();
        try {
            refundSubscription.close();
            subscription.close();
        } catch (Exception ignored) {
            // best effort
        }
        try {
            coordinator.join(TimeUnit.MICROSECONDS.toMillis(graceMicros) + 1000);
            pool.shutdown();
            if (!pool.awaitTermination(graceMicros, TimeUnit.MICROSECONDS)) {
                for (Running r : running.values()) {
                    if (r.settling.compareAndSet(false, true)) { // else its worker is settling it already
                        leave(r);
                        giveBack(r.lease);
                    }
                }
                pool.shutdownNow();
                pool.awaitTermination(1, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            pool.shutdownNow();
        }
        List<String> pending;
        synchronized (futures) { // a submit that passed the closing check either registered by now or sees swept
            swept = true;
            pending = new ArrayList<>(futures.keySet());
        }
        for (String id : pending) {
            fail(id, new RejectedExecutionException("dispatcher " + name + " closed; job " + id + " stays queued"));
        }
    }

    /** A job handed to a worker. */
    private static final class Running {
        final Lease lease;
        final boolean renew;
        volatile @Nullable Thread thread;
        /** Set once by whoever settles the job: its worker (ack or release) or close() (giving it back). */
        final AtomicBoolean settling = new AtomicBoolean();
        final AtomicBoolean left = new AtomicBoolean();

        Running(Lease lease, boolean renew) {
            this.lease = lease;
            this.renew = renew;
        }
    }

    /**
     * Builds a {@link Dispatcher}: 4 workers, every job costs {@link Cost#request()} on the limiter key
     * {@code queue}, tenants weigh 1, a 30 s grace period, an idle look every second, the system ticker.
     */
    public static final class Builder<R> {
        private final JobQueue queue;
        private final RateLimiter limiter;
        private final JobHandler<R> handler;
        private String name = "default";
        private int workers = 4;
        private Function<Job, String> limiterKey = j -> "queue";
        private Function<Job, Cost> cost = j -> Cost.request();
        private ToIntFunction<String> weights = t -> 1;
        private Ticker ticker = Ticker.system();
        private Duration gracePeriod = Duration.ofSeconds(30);
        private Duration idlePoll = Duration.ofSeconds(1);
        private Duration futureTimeout = Duration.ofDays(1);
        private @Nullable MeterRegistry registry;
        private QueueObserver observer = QueueObserver.NONE;

        private Builder(JobQueue queue, RateLimiter limiter, JobHandler<R> handler) {
            this.queue = queue;
            this.limiter = limiter;
            this.handler = handler;
        }

        /** The name, used in thread names and as the metrics' {@code dispatcher} tag: 1-64 of [A-Za-z0-9_.-]. */
        public Builder<R> name(String name) {
            if (name == null || !NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("name must be 1-64 of [A-Za-z0-9_.-], was '" + name + "'");
            }
            this.name = name;
            return this;
        }

        /** How many jobs run at once; at least 1. */
        public Builder<R> workers(int workers) {
            if (workers < 1) {
                throw new IllegalArgumentException("workers must be positive, was " + workers);
            }
            this.workers = workers;
            return this;
        }

        /**
         * The limiter key a job is charged to, for example per provider API key (hashed) or per model. The dispatcher
         * waits for one job at a time: while the next job waits for its key's quota, jobs for other keys wait too, so
         * run one dispatcher per key whose quota runs out on its own.
         */
        public Builder<R> limiterKey(Function<Job, String> limiterKey) {
            this.limiterKey = Objects.requireNonNull(limiterKey, "limiterKey");
            return this;
        }

        /** What a job costs the limiter, for example one request and its estimated tokens. */
        public Builder<R> cost(Function<Job, Cost> cost) {
            this.cost = Objects.requireNonNull(cost, "cost");
            return this;
        }

        /** Each tenant's weight (at least 1): a backlogged tenant gets its weight's share of a class's jobs. */
        public Builder<R> weights(ToIntFunction<String> weights) {
            this.weights = Objects.requireNonNull(weights, "weights");
            return this;
        }

        /** The clock deadlines are read on: the queue's. */
        public Builder<R> ticker(Ticker ticker) {
            this.ticker = Objects.requireNonNull(ticker, "ticker");
            return this;
        }

        /** How long {@link Dispatcher#close()} lets running jobs finish. */
        public Builder<R> gracePeriod(Duration gracePeriod) {
            if (gracePeriod.isNegative()) {
                throw new IllegalArgumentException("grace period must not be negative, was " + gracePeriod);
            }
            this.gracePeriod = gracePeriod;
            return this;
        }

        /**
         * How long a future waits for its job to run here (at most until the job's deadline): then it fails with a
         * {@link TimeoutException} and is forgotten, and the job is removed if it still waits in the queue. On a
         * shared queue a job submitted here may run on another instance, whose result does not come back here;
         * default 1 day.
         */
        public Builder<R> futureTimeout(Duration futureTimeout) {
            if (futureTimeout.isNegative() || futureTimeout.isZero()) {
                throw new IllegalArgumentException("future timeout must be positive, was " + futureTimeout);
            }
            this.futureTimeout = futureTimeout;
            return this;
        }

        /**
         * How often an idle dispatcher looks at the queue without being woken: for expired leases and for queues
         * that do not announce new jobs. New jobs announced and freed workers wake it at once.
         */
        public Builder<R> idlePoll(Duration idlePoll) {
            if (idlePoll.toMillis() < 1) {
                throw new IllegalArgumentException("idle poll must be at least 1 ms, was " + idlePoll);
            }
            this.idlePoll = idlePoll;
            return this;
        }

        /** Records {@link QueueMetrics} into {@code registry}. */
        public Builder<R> meterRegistry(MeterRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "registry");
            return this;
        }

        /** Observes what happens to jobs, for example for tests or logs. */
        public Builder<R> observer(QueueObserver observer) {
            this.observer = Objects.requireNonNull(observer, "observer");
            return this;
        }

        /** The dispatcher, started. */
        public Dispatcher<R> build() {
            return new Dispatcher<>(this);
        }
    }
}

package dev.sluice.hazelcast;

import com.hazelcast.aggregation.Aggregators;
import com.hazelcast.config.IndexType;
import com.hazelcast.core.EntryEvent;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.flakeidgen.FlakeIdGenerator;
import com.hazelcast.map.IMap;
import com.hazelcast.map.listener.EntryAddedListener;
import com.hazelcast.map.listener.EntryUpdatedListener;
import com.hazelcast.projection.Projections;
import com.hazelcast.query.Predicate;
import com.hazelcast.query.Predicates;
import dev.sluice.api.Ticker;
import dev.sluice.api.queue.Job;
import dev.sluice.api.queue.JobQueue;
import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Lease;
import dev.sluice.api.queue.Priority;
import dev.sluice.api.queue.QueueArguments;
import dev.sluice.api.queue.QueueFullException;
import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * A {@link JobQueue} on a Hazelcast cluster, shared by every handle on the same cluster and queue name.
 *
 * <p><b>Why one map</b>: every job is one entry of the {@code IMap} {@code <name>} (key: the enqueue time on the
 * producer's ticker, then a Flake id to break ties, both zero-padded, so keys sort in enqueue order across producers;
 * a Flake id alone would not, as each member reserves ids in batches valid for minutes), holding its lane, delivery
 * count, state and the time from which it is visible. Each change (take, ack, give back, extend, cancel,
 * dead-letter) is one entry processor on the key's partition owner: atomic, and copied to the map's synchronous
 * backups before it returns, so with {@code backup-count} ≥ 1 (the default) no acknowledged change is lost when a
 * member dies. A lease is just "visible again at lease end": an expired lease needs no reaper and cannot be lost with
 * the member that would have run one. We did not take an {@code IQueue} plus an in-flight map: moving a job between
 * two structures needs a transaction, or a crash between the two steps loses or duplicates it; nor a
 * {@code Ringbuffer}, which cannot remove a job acked out of order.
 *
 * <p>Taking queries the lane's visible keys (indexed) in key order and claims them one by one; a claim that lost a
 * race is skipped. Dead letters stay in the map in state dead, the last {@linkplain Builder#deadLetterLength
 * deadLetterLength} of them in key order (a take that dead-letters drops the oldest beyond it). Idempotency keys
 * live in the map {@code <name>-idem} with the window as TTL; a keyed job is written hidden and published once its
 * key is claimed (see {@link #enqueue}).
 *
 * <p><b>Time</b> is the partition owner's clock, read inside each entry processor (as for {@link HazelcastBackend}):
 * a lease ends, and a lease is checked, on the member's clock, so an application clock that runs ahead cannot take a
 * job still leased to another handle, nor one that lags keep a lease past its end. The members' clocks must agree to
 * well within a lease. A handle's own clock only orders the keys it writes and dates the candidates it looks for,
 * corrected by the members' time, which it reads when built, at least every 10 seconds after, and in each claim's
 * answer (half the round trip taken off): waiting and given-back jobs are visible to every handle at once, and a
 * handle whose clock is off still sees expired leases on time and skips leases still held. With a
 * {@linkplain Builder#ticker ticker} (tests), every time is read on it instead.
 */
public final class HazelcastJobQueue implements JobQueue {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    /** How often a handle reads the members' time at least. */
    private static final long CLOCK_REFRESH_MICROS = 10_000_000;
    /** The key the clock is read on: no job's (their keys are digits and a dash). */
    private static final String CLOCK_KEY = "~clock";

    private final IMap<String, QueuedJob> jobs;
    private final IMap<String, String> idempotency;
    private final FlakeIdGenerator ids;
    /** The explicit ticker of every time, or null for the member's clock in processors. */
    private final @Nullable Ticker ticker;
    /** This handle's clock: keys' enqueue times and the visibility of candidates, with {@link #offsetMicros}. */
    private final Ticker local;
    /** The members' time less this handle's, as last read (member clock only). */
    private volatile long offsetMicros;
    /** When {@link #offsetMicros} was last read, on this handle's clock. */
    private volatile long learnedAt;
    private final long leaseMicros;
    private final int maxDeliveries;
    private final long idempotencyMillis;
    private final long hiddenMillis;
    private final int deadLetterLength;
    private final long maxJobs;
    private final String handle = UUID.randomUUID().toString();

    private HazelcastJobQueue(Builder b) {
        this.jobs = b.instance.getMap(b.name);
        this.idempotency = b.instance.getMap(b.name + "-idem");
        this.ids = b.instance.getFlakeIdGenerator(b.name);
        this.ticker = b.ticker;
        this.local = b.ticker != null ? b.ticker : b.localClock;
        this.leaseMicros = b.lease.toNanos() / 1000;
        this.maxDeliveries = b.maxDeliveries;
        this.idempotencyMillis = Math.max(1, b.idempotencyWindow.toMillis());
        // outlives the key claimed after it by a margin; at least 10 minutes, so that a slow claim finds it there
        this.hiddenMillis = b.hiddenTtl != null ? b.hiddenTtl.toMillis()
                : Math.max(idempotencyMillis, TimeUnit.MINUTES.toMillis(10)) + TimeUnit.MINUTES.toMillis(10);
        this.deadLetterLength = b.deadLetterLength;
        this.maxJobs = b.maxJobs;
        jobs.addIndex(IndexType.HASH, "lane");
        jobs.addIndex(IndexType.SORTED, "visibleAt");
        jobs.addIndex(IndexType.HASH, "state");
        if (ticker == null) {
            probeClock();
        }
    }

    /** A builder of the queue {@code name} on {@code instance} (a member or a client), which stays the caller's. */
    public static Builder builder(HazelcastInstance instance, String name) {
        return new Builder(Objects.requireNonNull(instance, "instance"), name);
    }

    /**
     * {@inheritDoc}
     *
     * <p>With an idempotency key the job is written hidden first, then the key is claimed, then the job is
     * published: a key is only ever claimed for a job that exists, so a write that failed leaves nothing a retry
     * would take for done. A retry that finds the key claimed publishes that job, in case its producer failed
     * between the claim and the publish. A producer that dies between the write and the claim may leave one hidden
     * entry behind, never a lost job. A hidden entry expires 10 minutes after the idempotency window (itself counted
     * as at least 10 minutes), so such leftovers go; publishing drops its time to live.
     */
    @Override
    public String enqueue(JobRequest r) {
        Objects.requireNonNull(r, "request");
        // Counted across the cluster on every enqueue, on the state index (dead letters, kept in the map, are not
        // unfinished): producers racing past it at once may each add one more.
        if (jobs.aggregate(Aggregators.count(), Predicates.in("state", QueuedJob.WAITING, QueuedJob.LEASED,
                QueuedJob.HIDDEN)) >= maxJobs) {
            String claimed = r.idempotencyKey() == null ? null : idempotency.get(r.idempotencyKey());
            if (claimed != null) {
                // a retry of a known key: its job (published, in case its producer failed before), full or not
                jobs.executeOnKey(claimed, processor(QueueProcessor.PUBLISH, ""));
                return claimed;
            }
            throw new QueueFullException("queue " + jobs.getName() + " holds its maximum of " + maxJobs
                    + " unfinished jobs");
        }
        long now = clock();
        String id = String.format("%019d-%019d", now, ids.newId());
        String key = r.idempotencyKey();
        QueuedJob job = new QueuedJob(r.priority(), r.tenant(), r.payload(), r.deadlineMicros(), key, now);
        if (key == null) {
            jobs.set(id, job);
            return id;
        }
        jobs.set(id, job.hide(), hiddenMillis, TimeUnit.MILLISECONDS);
        String known;
        try {
            known = idempotency.putIfAbsent(key, id, idempotencyMillis, TimeUnit.MILLISECONDS);
        } catch (RuntimeException e) {
            discardUnclaimed(key, id, e);
            throw e;
        }
        if (known != null) {
            jobs.delete(id);
        }
        String winner = known == null ? id : known;
        jobs.executeOnKey(winner, processor(QueueProcessor.PUBLISH, ""));
        return winner;
    }

    /** After a failed claim: deletes the hidden job unless the claim took effect after all. */
    private void discardUnclaimed(String key, String id, RuntimeException failure) {
        try {
            if (!id.equals(idempotency.get(key))) {
                jobs.delete(id);
            }
        } catch (RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    @Override
    public List<Lease> take(Priority priority, String tenant, int max) {
        if (max < 1) {
            throw new IllegalArgumentException("max must be positive, was " + max);
        }
        Predicate<String, QueuedJob> visible = visibleIn(priority, tenant);
        List<Lease> out = new ArrayList<>();
        boolean killed = false;
        // Claims can lose races: look again, a bounded number of times.
        for (int round = 0; round < 3 && out.size() < max; round++) {
            Set<String> keys = jobs.keySet(Predicates.pagingPredicate(visible, new KeyOrder(),
                    (max - out.size()) * (round + 1)));
            if (keys.isEmpty()) {
                break;
            }
            for (String key : new TreeSet<>(keys)) {
                if (out.size() >= max) {
                    break;
                }
                long asked = local.nowMicros();
                Object r = jobs.executeOnKey(key, processor(QueueProcessor.CLAIM, handle));
                long answered = local.nowMicros();
                if (r instanceof QueuedJob j) {
                    out.add(new Lease(j.job(key), Objects.requireNonNull(j.token())));
                    learn(j.getVisibleAt() - leaseMicros, asked, answered);
                } else if (r instanceof Long ownerNow) {
                    learn(ownerNow, asked, answered); // not visible yet on the owner's clock: ours runs ahead
                    visible = visibleIn(priority, tenant);
                } else if (Boolean.FALSE.equals(r)) {
                    killed = true;
                }
            }
        }
        if (killed) {
            dropOldDeadLetters();
        }
        return out;
    }

    /** The jobs of a lane visible now, by this handle's estimate of the members' time. */
    private Predicate<String, QueuedJob> visibleIn(Priority priority, String tenant) {
        return Predicates.and(Predicates.equal("lane", QueuedJob.lane(priority, tenant)),
                Predicates.lessEqual("visibleAt", clock()));
    }

    /**
     * Drops the oldest dead letters (in {@link #deadLetters} order) beyond {@link Builder#deadLetterLength}. The count
     * and the drop are two steps: handles that trim at the same moment may together drop a few more than the excess
     * (never a job that is not dead).
     */
    private void dropOldDeadLetters() {
        Predicate<String, QueuedJob> dead = Predicates.equal("state", QueuedJob.DEAD);
        long excess = jobs.aggregate(Aggregators.count(), dead) - deadLetterLength;
        if (excess <= 0) {
            return;
        }
        Set<String> oldest = jobs.keySet(Predicates.pagingPredicate(dead, new KeyOrder(),
                (int) Math.min(excess, 10_000)));
        jobs.executeOnKeys(oldest, new QueueProcessor(QueueProcessor.DROP_DEAD, 0, leaseMicros, maxDeliveries, ""));
    }

    /** Orders entries by key, that is by enqueue. */
    static final class KeyOrder implements Comparator<Map.Entry<String, QueuedJob>>, Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public int compare(Map.Entry<String, QueuedJob> a, Map.Entry<String, QueuedJob> b) {
            return a.getKey().compareTo(b.getKey());
        }
    }

    @Override
    public Set<String> tenants(Priority priority) {
        Collection<String> t = jobs.project(Projections.singleAttribute("tenant"), Predicates.and(
                Predicates.equal("priority", priority.ordinal()),
                Predicates.lessEqual("visibleAt", clock())));
        return new TreeSet<>(t);
    }

    /** One query for every class. */
    @Override
    public Map<Priority, Set<String>> tenantsByPriority() {
        Collection<Object[]> pairs = jobs.project(Projections.multiAttribute("priority", "tenant"),
                Predicates.lessEqual("visibleAt", clock()));
        Map<Priority, Set<String>> out = new EnumMap<>(Priority.class);
        for (Object[] pair : pairs) {
            out.computeIfAbsent(Priority.values()[(Integer) pair[0]], p -> new TreeSet<>()).add((String) pair[1]);
        }
        return out;
    }

    private boolean change(int op, Lease lease) {
        return Boolean.TRUE.equals(jobs.executeOnKey(lease.job().id(), processor(op, lease.token())));
    }

    /** This handle's estimate of the members' time (the ticker's time with one), read again every 10 seconds. */
    private long clock() {
        long now = local.nowMicros();
        if (ticker == null && now - learnedAt > CLOCK_REFRESH_MICROS) {
            probeClock();
            now = local.nowMicros();
        }
        return now + offsetMicros;
    }

    /** Reads a member's time; a failure keeps the last offset (and is tried again after the refresh interval). */
    private void probeClock() {
        long asked = local.nowMicros();
        try {
            Long ownerNow = jobs.executeOnKey(CLOCK_KEY, new ClockProbe());
            learn(Objects.requireNonNull(ownerNow), asked, local.nowMicros());
        } catch (RuntimeException e) {
            learnedAt = asked;
        }
    }

    /**
     * Takes the owner's time {@code ownerNow}, read in answer to a call sent at {@code asked} and answered at
     * {@code answered} on this handle's clock: taken as read halfway.
     */
    private void learn(long ownerNow, long asked, long answered) {
        if (ticker == null) {
            long at = asked + (answered - asked) / 2;
            offsetMicros = ownerNow - at;
            learnedAt = at;
        }
    }

    /** A processor of {@code op} on the ticker's time, or on the owner member's clock without one. */
    private QueueProcessor processor(int op, String token) {
        return new QueueProcessor(op, ticker == null ? QueueProcessor.MEMBER_CLOCK : ticker.nowMicros(), leaseMicros,
                maxDeliveries, token);
    }

    @Override
    public boolean ack(Lease lease) {
        return change(QueueProcessor.ACK, lease);
    }

    @Override
    public boolean release(Lease lease) {
        return change(QueueProcessor.RELEASE, lease);
    }

    @Override
    public boolean extend(Lease lease) {
        return change(QueueProcessor.EXTEND, lease);
    }

    @Override
    public boolean cancel(String jobId) {
        return Boolean.TRUE.equals(jobs.executeOnKey(jobId, processor(QueueProcessor.CANCEL, "")));
    }

    @Override
    public long depth(Priority priority) {
        return jobs.aggregate(Aggregators.count(), Predicates.and(Predicates.equal("priority", priority.ordinal()),
                Predicates.in("state", QueuedJob.WAITING, QueuedJob.LEASED)));
    }

    @Override
    public List<Job> deadLetters(int max) {
        List<Job> out = new ArrayList<>();
        for (Map.Entry<String, QueuedJob> e : jobs.entrySet(Predicates.pagingPredicate(
                Predicates.equal("state", QueuedJob.DEAD), new KeyOrder(), max))) {
            out.add(e.getValue().job(e.getKey()));
        }
        return out;
    }

    @Override
    public Duration leaseDuration() {
        return Duration.ofNanos(leaseMicros * 1000);
    }

    @Override
    public int maxDeliveries() {
        return maxDeliveries;
    }

    /** Announces every job that becomes waiting: enqueued, published after its idempotency key, or given back. */
    @Override
    public AutoCloseable onEnqueue(Runnable listener) {
        UUID id = jobs.addEntryListener(new Announcer(listener), Predicates.equal("state", QueuedJob.WAITING), false);
        return () -> jobs.removeEntryListener(id);
    }

    /** Runs a listener on each added or updated entry the predicate lets through. */
    private record Announcer(Runnable listener)
            implements EntryAddedListener<String, QueuedJob>, EntryUpdatedListener<String, QueuedJob> {
        @Override
        public void entryAdded(EntryEvent<String, QueuedJob> event) {
            listener.run();
        }

        @Override
        public void entryUpdated(EntryEvent<String, QueuedJob> event) {
            listener.run();
        }
    }

    /** Does nothing: the jobs and the instance outlive the handle. */
    @Override
    public void close() {
    }

    /**
     * Builds a {@link HazelcastJobQueue}: leases of 30 s, 5 deliveries, at most 1,000,000 unfinished jobs, 10,000
     * dead letters, a 24 h idempotency window, the members' clocks.
     */
    public static final class Builder {
        private final HazelcastInstance instance;
        private final String name;
        private @Nullable Ticker ticker;
        private Ticker localClock = Ticker.system();
        private Duration lease = Duration.ofSeconds(30);
        private int maxDeliveries = 5;
        private Duration idempotencyWindow = Duration.ofHours(24);
        private int deadLetterLength = 10_000;
        private long maxJobs = 1_000_000;
        private @Nullable Duration hiddenTtl;

        private Builder(HazelcastInstance instance, String name) {
            if (name == null || !NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("queue name must be 1-64 of [A-Za-z0-9_.-], was '" + name + "'");
            }
            this.instance = instance;
            this.name = name;
        }

        /**
         * Every time from this ticker instead of the members' clocks (leases, enqueue times): for tests with a manual
         * clock. Every handle of a queue must then use the same one.
         */
        public Builder ticker(Ticker ticker) {
            this.ticker = Objects.requireNonNull(ticker, "ticker");
            return this;
        }

        /** This handle's own clock, when the members' clocks keep the time; tests only (to skew it). */
        Builder localClock(Ticker localClock) {
            this.localClock = Objects.requireNonNull(localClock, "localClock");
            return this;
        }

        /** How long a lease lasts; at least 1 ms. */
        public Builder leaseDuration(Duration lease) {
            this.lease = QueueArguments.leaseDuration(lease);
            return this;
        }

        /** Deliveries before a job is dead-lettered; at least 1. */
        public Builder maxDeliveries(int maxDeliveries) {
            this.maxDeliveries = QueueArguments.maxDeliveries(maxDeliveries);
            return this;
        }

        /**
         * How many dead letters are kept; beyond it the oldest are dropped. Every handle of a queue should use the
         * same.
         *
         * @throws IllegalArgumentException if not positive
         */
        public Builder deadLetterLength(int deadLetterLength) {
            this.deadLetterLength = (int) QueueArguments.positive("deadLetterLength", deadLetterLength);
            return this;
        }

        /**
         * The most unfinished jobs the queue holds (waiting, leased, or written and not yet published); enqueue
         * beyond it throws {@link QueueFullException}. Counted on each enqueue (an indexed count on every member);
         * approximate when producers race. Every handle of a queue should use the same.
         *
         * @throws IllegalArgumentException if not positive
         */
        public Builder maxJobs(long maxJobs) {
            this.maxJobs = QueueArguments.positive("maxJobs", maxJobs);
            return this;
        }

        /** How long an idempotency key is remembered after its job was enqueued. */
        public Builder idempotencyWindow(Duration window) {
            this.idempotencyWindow = QueueArguments.idempotencyWindow(window);
            return this;
        }

        /** How long a hidden job lives unpublished; tests only (by default the window, at least 10 minutes). */
        Builder hiddenTtl(Duration ttl) {
            this.hiddenTtl = ttl;
            return this;
        }

        /** The queue. */
        public HazelcastJobQueue build() {
            return new HazelcastJobQueue(this);
        }
    }
}

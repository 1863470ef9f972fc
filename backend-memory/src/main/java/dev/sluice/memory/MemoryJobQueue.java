package dev.sluice.memory;

import dev.sluice.api.Ticker;
import dev.sluice.api.queue.Job;
import dev.sluice.api.queue.JobQueue;
import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Lease;
import dev.sluice.api.queue.Priority;
import dev.sluice.api.queue.QueueArguments;
import dev.sluice.api.queue.QueueFullException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.jspecify.annotations.Nullable;

/**
 * A {@link JobQueue} in this JVM: lanes of job ids under one lock, leases timed by a {@link Ticker} (so tests drive
 * expiry with a manual one). Nothing survives the JVM; for that use the Redis or Hazelcast queue. The newest 10,000
 * dead letters are kept, and idempotency keys for their window but at most {@link Builder#maxIdempotencyKeys} of
 * them, the oldest forgotten first.
 *
 * <pre>{@code
 * JobQueue queue = MemoryJobQueue.builder().leaseDuration(Duration.ofSeconds(30)).maxDeliveries(5).build();
 * }</pre>
 */
public final class MemoryJobQueue implements JobQueue {

    /** Dead letters kept for inspection; older ones are dropped. */
    static final int MAX_DEAD_LETTERS = 10_000;

    private final Ticker ticker;
    private final long leaseMicros;
    private final int maxDeliveries;
    private final long maxJobs;
    private final long idempotencyMicros;
    private final long maxIdempotencyKeys;

    private final Map<String, Entry> jobs = new HashMap<>();
    private final Map<Priority, Map<String, ArrayDeque<Entry>>> lanes = new EnumMap<>(Priority.class);
    private final PriorityQueue<Entry> leased = new PriorityQueue<>((a, b) -> Long.compare(a.leaseEnd, b.leaseEnd));
    /** Idempotency keys in the order they were remembered, which is also the order they expire in. */
    private final Map<String, Remembered> idempotency = new LinkedHashMap<>();
    private final ArrayDeque<Job> dead = new ArrayDeque<>();
    private final long[] depth = new long[Priority.values().length];
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private long sequence;

    private MemoryJobQueue(Builder b) {
        this.ticker = b.ticker;
        this.leaseMicros = b.lease.toNanos() / 1000;
        this.maxDeliveries = b.maxDeliveries;
        this.maxJobs = b.maxJobs;
        this.idempotencyMicros = b.idempotencyWindow.toNanos() / 1000;
        this.maxIdempotencyKeys = b.maxIdempotencyKeys;
        for (Priority p : Priority.values()) {
            lanes.put(p, new LinkedHashMap<>());
        }
    }

    /**
     * A builder with leases of 30 s, 5 deliveries, at most 1,000,000 jobs, a 24 h idempotency window of at most
     * 1,000,000 keys.
     */
    public static Builder builder() {
        return new Builder();
    }

    /** The job an idempotency key was enqueued with, until when it is remembered. */
    private record Remembered(String id, long until) {
    }

    /** One unfinished job. */
    private static final class Entry {
        final String id;
        final JobRequest request;
        final long enqueuedAt;
        int deliveries;
        long leaseEnd;
        @Nullable String token;

        Entry(String id, JobRequest request, long enqueuedAt) {
            this.id = id;
            this.request = request;
            this.enqueuedAt = enqueuedAt;
        }

        Job job() {
            return new Job(id, request.payload(), request.tenant(), request.priority(), request.deadlineMicros(),
                    request.idempotencyKey(), enqueuedAt, deliveries);
        }
    }

    @Override
    public String enqueue(JobRequest request) {
        Objects.requireNonNull(request, "request");
        String id;
        synchronized (this) {
            long now = ticker.nowMicros();
            String key = request.idempotencyKey();
            if (key != null) {
                forgetIdempotencyKeys(now);
                Remembered known = idempotency.get(key);
                if (known != null) {
                    return known.id();
                }
            }
            if (jobs.size() >= maxJobs) {
                throw new QueueFullException("the queue holds its maximum of " + maxJobs + " unfinished jobs");
            }
            id = Long.toString(++sequence);
            Entry e = new Entry(id, request, now);
            jobs.put(id, e);
            lane(request.priority(), request.tenant()).addLast(e);
            depth[request.priority().ordinal()]++;
            if (key != null) {
                remember(key, id, now);
            }
        }
        listeners.forEach(Runnable::run);
        return id;
    }

    private void forgetIdempotencyKeys(long now) {
        Iterator<Remembered> it = idempotency.values().iterator();
        while (it.hasNext() && it.next().until() <= now) {
            it.remove();
        }
    }

    /** Remembers {@code key}, forgetting the oldest keys beyond {@link Builder#maxIdempotencyKeys}. */
    private void remember(String key, String id, long now) {
        idempotency.put(key, new Remembered(id, now + idempotencyMicros));
        Iterator<Remembered> it = idempotency.values().iterator();
        while (idempotency.size() > maxIdempotencyKeys) {
            it.next();
            it.remove();
        }
    }

    /** How many idempotency keys are remembered now (for tests). */
    synchronized int rememberedKeys() {
        return idempotency.size();
    }

    private ArrayDeque<Entry> lane(Priority p, String tenant) {
        return lanes.get(p).computeIfAbsent(tenant, t -> new ArrayDeque<>());
    }

    @Override
    public synchronized List<Lease> take(Priority priority, String tenant, int max) {
        if (max < 1) {
            throw new IllegalArgumentException("max must be positive, was " + max);
        }
        long now = ticker.nowMicros();
        reclaimExpired(now);
        ArrayDeque<Entry> lane = lanes.get(priority).get(tenant);
        List<Lease> out = new ArrayList<>();
        while (lane != null && out.size() < max && !lane.isEmpty()) {
            Entry e = lane.pollFirst();
            if (e.deliveries >= maxDeliveries) {
                kill(e);
                continue;
            }
            e.deliveries++;
            e.leaseEnd = now + leaseMicros;
            e.token = e.id + "/" + e.deliveries;
            leased.add(e);
            out.add(new Lease(e.job(), e.token));
        }
        if (lane != null && lane.isEmpty()) {
            lanes.get(priority).remove(tenant);
        }
        return out;
    }

    /**
     * Expired leases: visible again at the head of their lane. Each keeps its token, so its worker can still ack,
     * give back or extend it until it is taken again (as on the other queues); the take after the last delivery
     * dead-letters it.
     */
    private void reclaimExpired(long now) {
        List<Entry> back = new ArrayList<>();
        while (!leased.isEmpty() && leased.peek().leaseEnd <= now) {
            back.add(leased.poll());
        }
        // Oldest first at the head: add back in reverse order of enqueueing.
        back.sort((a, b) -> Long.compare(Long.parseLong(b.id), Long.parseLong(a.id)));
        for (Entry e : back) {
            lane(e.request.priority(), e.request.tenant()).addFirst(e);
        }
    }

    private void kill(Entry e) {
        forget(e);
        dead.addLast(e.job());
        if (dead.size() > MAX_DEAD_LETTERS) {
            dead.pollFirst();
        }
    }

    /** The entry {@code lease} still holds: its latest delivery, not finished (its lease may have expired). */
    private @Nullable Entry held(Lease lease) {
        Entry e = jobs.get(lease.job().id());
        if (e == null || e.token == null || !e.token.equals(lease.token())) {
            return null;
        }
        return e;
    }

    /** Takes a held entry out of the leased set or, its lease expired, out of its lane. */
    private void unlink(Entry e) {
        if (!leased.remove(e)) {
            removeFromLane(e);
        }
    }

    /** Takes a visible entry out of its lane, dropping the lane once empty; whether it was there. */
    private boolean removeFromLane(Entry e) {
        ArrayDeque<Entry> lane = lanes.get(e.request.priority()).get(e.request.tenant());
        if (lane == null || !lane.remove(e)) {
            return false;
        }
        if (lane.isEmpty()) {
            lanes.get(e.request.priority()).remove(e.request.tenant());
        }
        return true;
    }

    /** Forgets a finished job: no longer known, no longer counted. */
    private void forget(Entry e) {
        jobs.remove(e.id);
        depth[e.request.priority().ordinal()]--;
    }

    @Override
    public synchronized Set<String> tenants(Priority priority) {
        reclaimExpired(ticker.nowMicros());
        return new LinkedHashSet<>(lanes.get(priority).keySet());
    }

    @Override
    public synchronized boolean ack(Lease lease) {
        Entry e = held(lease);
        if (e == null) {
            return false;
        }
        unlink(e);
        forget(e);
        return true;
    }

    @Override
    public boolean release(Lease lease) {
        synchronized (this) {
            Entry e = held(lease);
            if (e == null) {
                return false;
            }
            e.token = null;
            if (leased.remove(e)) {
                lane(e.request.priority(), e.request.tenant()).addFirst(e);
            }
        }
        listeners.forEach(Runnable::run);
        return true;
    }

    @Override
    public synchronized boolean extend(Lease lease) {
        Entry e = held(lease);
        if (e == null) {
            return false;
        }
        unlink(e);
        e.leaseEnd = ticker.nowMicros() + leaseMicros;
        leased.add(e);
        return true;
    }

    @Override
    public synchronized boolean cancel(String jobId) {
        Entry e = jobs.get(jobId);
        if (e == null || e.token != null) {
            return false;
        }
        if (!removeFromLane(e)) {
            return false;
        }
        forget(e);
        return true;
    }

    @Override
    public synchronized long depth(Priority priority) {
        reclaimExpired(ticker.nowMicros());
        return depth[priority.ordinal()];
    }

    @Override
    public synchronized List<Job> deadLetters(int max) {
        reclaimExpired(ticker.nowMicros());
        List<Job> out = new ArrayList<>();
        for (Job j : dead) {
            if (out.size() >= max) {
                break;
            }
            out.add(j);
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

    @Override
    public AutoCloseable onEnqueue(Runnable listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    /** Does nothing: the jobs live as long as this object. */
    @Override
    public void close() {
    }

    /** Builds a {@link MemoryJobQueue}. */
    public static final class Builder {
        private Ticker ticker = Ticker.system();
        private Duration lease = Duration.ofSeconds(30);
        private int maxDeliveries = 5;
        private long maxJobs = 1_000_000;
        private Duration idempotencyWindow = Duration.ofHours(24);
        private long maxIdempotencyKeys = 1_000_000;

        private Builder() {
        }

        /** The clock of leases, deadlines and idempotency keys. */
        public Builder ticker(Ticker ticker) {
            this.ticker = Objects.requireNonNull(ticker, "ticker");
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

        /** The most unfinished jobs held; enqueue beyond it throws {@link QueueFullException}. */
        public Builder maxJobs(long maxJobs) {
            this.maxJobs = QueueArguments.positive("maxJobs", maxJobs);
            return this;
        }

        /** How long an idempotency key is remembered after its job was enqueued. */
        public Builder idempotencyWindow(Duration window) {
            this.idempotencyWindow = QueueArguments.idempotencyWindow(window);
            return this;
        }

        /**
         * The most idempotency keys remembered at once: beyond it the oldest is forgotten before its window ends (and
         * enqueueing with it again adds a job). Bounds the memory of keyed enqueues whatever their rate.
         *
         * @throws IllegalArgumentException if not positive
         */
        public Builder maxIdempotencyKeys(long maxIdempotencyKeys) {
            this.maxIdempotencyKeys = QueueArguments.positive("maxIdempotencyKeys", maxIdempotencyKeys);
            return this;
        }

        /** The queue. */
        public MemoryJobQueue build() {
            return new MemoryJobQueue(this);
        }
    }
}

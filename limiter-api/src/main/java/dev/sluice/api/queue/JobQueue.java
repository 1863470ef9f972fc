package dev.sluice.api.queue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A work queue with at-least-once delivery. Thread-safe; shared between instances when the backing store is.
 *
 * <p>Jobs live in lanes, one per priority class and tenant, first in, first out within a lane. A worker
 * {@linkplain #take takes} jobs under a {@link Lease} of {@link #leaseDuration()}: while the lease runs nobody else
 * sees the job. The worker then {@linkplain #ack acks} it (done, gone for good) or {@linkplain #release gives it
 * back} (visible again at once). If the lease expires first (the worker died or hung), the job becomes visible again
 * by itself. A job is delivered at most {@link #maxDeliveries()} times: when it would be delivered once more it moves
 * to the dead-letter list instead, where {@link #deadLetters} shows it. So a job may run more than once (make
 * handlers idempotent), but it is never lost while it is unfinished.
 *
 * <p>The queue knows nothing of rate limits or fairness between tenants: the dispatcher in limiter-core chooses
 * which lane to take from, which is why {@link #take} names one.
 */
public interface JobQueue extends AutoCloseable {

    /**
     * Adds a job at the tail of its lane and returns its id. If a job was enqueued with the same idempotency key and
     * is still remembered (queued, leased, or finished within the queue's idempotency window), adds nothing and
     * returns that job's id.
     *
     * @throws QueueFullException if the queue holds its maximum of unfinished jobs
     */
    String enqueue(JobRequest request);

    /**
     * Takes up to {@code max} visible jobs of the lane ({@code priority}, {@code tenant}), oldest first, each under a
     * new lease. Never blocks for work; returns an empty list when the lane has none visible. Jobs whose lease expired
     * are visible again here; one that has reached {@link #maxDeliveries()} moves to the dead-letter list instead.
     *
     * @throws IllegalArgumentException if {@code max} is not positive
     */
    List<Lease> take(Priority priority, String tenant, int max);

    /**
     * Takes up to {@code max} visible jobs, from the highest priority class that has any, tenants in no promised
     * order. For simple workers; the dispatcher chooses lanes itself.
     */
    default List<Lease> take(int max) {
        List<Lease> out = new ArrayList<>();
        for (Priority p : Priority.values()) {
            for (String tenant : tenants(p)) {
                if (out.size() >= max) {
                    return out;
                }
                out.addAll(take(p, tenant, max - out.size()));
            }
        }
        return out;
    }

    /** The tenants that may have visible jobs in {@code priority} (may include some whose lane just emptied). */
    Set<String> tenants(Priority priority);

    /**
     * {@link #tenants(Priority)} of every class at once, in priority order (classes without tenants may be left
     * out). Queues that can answer in one round trip override it.
     */
    default Map<Priority, Set<String>> tenantsByPriority() {
        Map<Priority, Set<String>> out = new EnumMap<>(Priority.class);
        for (Priority p : Priority.values()) {
            out.put(p, tenants(p));
        }
        return out;
    }

    /**
     * Marks the job done and forgets it (its idempotency key stays remembered for the idempotency window).
     *
     * <p>A lease is held until its job is finished, taken again or dead-lettered, not just until its end: a late
     * ack of an expired lease still finishes the job if no worker took it since. The same holds for
     * {@link #release} and {@link #extend}.
     *
     * @return false if the lease was no longer held: the job was finished, or taken again after the lease expired
     */
    boolean ack(Lease lease);

    /**
     * Gives the job back: it is visible again at once, at the head of its lane. The delivery still counts: a job
     * given back after its last delivery is dead-lettered by the next take that reaches it.
     *
     * @return false if the lease was no longer held
     */
    boolean release(Lease lease);

    /**
     * Renews the lease for another {@link #leaseDuration()} from now, for work that takes longer; an expired lease
     * nobody took since is the worker's again.
     *
     * @return false if the lease was no longer held
     */
    boolean extend(Lease lease);

    /**
     * Removes a job that is waiting (not leased), for example because its caller gave up.
     *
     * @return whether it was removed; false if it is unknown, leased (an expired lease too, until its job is taken
     *     again) or finished
     */
    boolean cancel(String jobId);

    /** The unfinished jobs (waiting or leased) of {@code priority}. Approximate where the store counts lazily. */
    long depth(Priority priority);

    /** Up to {@code max} dead-lettered jobs, oldest first; their {@link Job#deliveries()} says how often they ran. */
    List<Job> deadLetters(int max);

    /** How long a lease lasts. */
    Duration leaseDuration();

    /** How many times a job is delivered before it is dead-lettered. */
    int maxDeliveries();

    /**
     * Calls {@code listener} (quickly, on any thread) when a job may have become visible, so idle workers can wake
     * instead of polling. A queue that cannot tell returns without ever calling it; expired leases are never
     * announced, so workers still look again now and then.
     *
     * @return closing it stops the calls
     */
    default AutoCloseable onEnqueue(Runnable listener) {
        return () -> { };
    }

    /** Releases what this handle owns (connections, listeners); the jobs stay in a shared store. */
    @Override
    void close();
}

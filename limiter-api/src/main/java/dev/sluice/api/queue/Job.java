package dev.sluice.api.queue;

import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * One delivery of an enqueued job: what was enqueued, the id the queue gave it, when it was enqueued and how many
 * times it has been delivered, this delivery included. Immutable.
 */
public final class Job {

    private final String id;
    private final byte[] payload;
    private final String tenant;
    private final Priority priority;
    private final long deadlineMicros;
    private final @Nullable String idempotencyKey;
    private final long enqueuedAtMicros;
    private final int deliveries;

    /** A job as a queue delivers it. For queue implementations. */
    public Job(String id, byte[] payload, String tenant, Priority priority, long deadlineMicros,
            @Nullable String idempotencyKey, long enqueuedAtMicros, int deliveries) {
        this.id = Objects.requireNonNull(id, "id");
        this.payload = Objects.requireNonNull(payload, "payload");
        this.tenant = Objects.requireNonNull(tenant, "tenant");
        this.priority = Objects.requireNonNull(priority, "priority");
        this.deadlineMicros = deadlineMicros;
        this.idempotencyKey = idempotencyKey;
        this.enqueuedAtMicros = enqueuedAtMicros;
        this.deliveries = deliveries;
    }

    /** The queue's id of this job, stable across deliveries. */
    public String id() {
        return id;
    }

    /** The payload (not copied; do not change it). */
    public byte[] payload() {
        return payload;
    }

    /** The tenant. */
    public String tenant() {
        return tenant;
    }

    /** The priority class. */
    public Priority priority() {
        return priority;
    }

    /** The deadline on the queue's ticker, or {@link JobRequest#NO_DEADLINE}. */
    public long deadlineMicros() {
        return deadlineMicros;
    }

    /** Whether the job has a deadline. */
    public boolean hasDeadline() {
        return deadlineMicros != JobRequest.NO_DEADLINE;
    }

    /** The idempotency key it was enqueued with, or null. */
    public @Nullable String idempotencyKey() {
        return idempotencyKey;
    }

    /** When it was enqueued, on the queue's ticker. */
    public long enqueuedAtMicros() {
        return enqueuedAtMicros;
    }

    /** How many times it has been delivered, this delivery included (1 for the first). */
    public int deliveries() {
        return deliveries;
    }

    @Override
    public String toString() {
        return "Job{" + id + ", tenant=" + tenant + ", " + priority + ", delivery " + deliveries + "}";
    }
}

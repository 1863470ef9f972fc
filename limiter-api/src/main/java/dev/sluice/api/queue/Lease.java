package dev.sluice.api.queue;

import java.util.Objects;

/**
 * A taken job and the right to finish it until the lease expires. The token tells one delivery from the next, so a
 * worker whose lease expired cannot ack or give back a job that another worker holds now. Immutable.
 */
public final class Lease {

    private final Job job;
    private final String token;

    /** A lease of {@code job} under {@code token}. For queue implementations. */
    public Lease(Job job, String token) {
        this.job = Objects.requireNonNull(job, "job");
        this.token = Objects.requireNonNull(token, "token");
    }

    /** The job. */
    public Job job() {
        return job;
    }

    /** The queue's token of this delivery (opaque). */
    public String token() {
        return token;
    }

    @Override
    public String toString() {
        return "Lease{" + job + "}";
    }
}

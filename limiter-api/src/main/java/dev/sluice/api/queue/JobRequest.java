package dev.sluice.api.queue;

import java.util.Objects;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * What a producer enqueues: a payload, a tenant, a priority class, an optional deadline and an optional idempotency
 * key. Immutable; build one with {@link #builder(byte[])}.
 */
public final class JobRequest {

    /** Tenants and idempotency keys: printable, no whitespace, at most 128 characters. */
    private static final Pattern NAME = Pattern.compile("[\\x21-\\x7e]{1,128}");

    /** A deadline meaning "none". */
    public static final long NO_DEADLINE = Long.MAX_VALUE;

    private final byte[] payload;
    private final String tenant;
    private final Priority priority;
    private final long deadlineMicros;
    private final @Nullable String idempotencyKey;

    private JobRequest(Builder b) {
        this.payload = b.payload;
        this.tenant = b.tenant;
        this.priority = b.priority;
        this.deadlineMicros = b.deadlineMicros;
        this.idempotencyKey = b.idempotencyKey;
    }

    /** A builder of a request carrying {@code payload} (not copied; do not change it afterwards). */
    public static Builder builder(byte[] payload) {
        return new Builder(Objects.requireNonNull(payload, "payload"));
    }

    /** The payload (not copied). */
    public byte[] payload() {
        return payload;
    }

    /** Whose job this is; fairness is shared out between tenants. */
    public String tenant() {
        return tenant;
    }

    /** The priority class. */
    public Priority priority() {
        return priority;
    }

    /** The moment, on the queue's ticker in microseconds, after which the job is worthless; {@link #NO_DEADLINE}. */
    public long deadlineMicros() {
        return deadlineMicros;
    }

    /** The key that makes enqueueing idempotent, or null. */
    public @Nullable String idempotencyKey() {
        return idempotencyKey;
    }

    static String checkName(String what, String value) {
        if (value == null || !NAME.matcher(value).matches()) {
            throw new IllegalArgumentException(what + " must be 1-128 printable characters without spaces, was '"
                    + value + "'");
        }
        return value;
    }

    /** Builds a {@link JobRequest}; the tenant defaults to {@code default}, the priority to {@link Priority#NORMAL}. */
    public static final class Builder {
        private final byte[] payload;
        private String tenant = "default";
        private Priority priority = Priority.NORMAL;
        private long deadlineMicros = NO_DEADLINE;
        private @Nullable String idempotencyKey;

        private Builder(byte[] payload) {
            this.payload = payload;
        }

        /**
         * The tenant.
         *
         * @throws IllegalArgumentException if not 1-128 printable characters without spaces
         */
        public Builder tenant(String tenant) {
            this.tenant = checkName("tenant", tenant);
            return this;
        }

        /** The priority class. */
        public Builder priority(Priority priority) {
            this.priority = Objects.requireNonNull(priority, "priority");
            return this;
        }

        /** The deadline in microseconds on the queue's ticker ({@link dev.sluice.api.Ticker#system()}: epoch). */
        public Builder deadlineMicros(long deadlineMicros) {
            this.deadlineMicros = deadlineMicros;
            return this;
        }

        /**
         * The idempotency key: while a job enqueued with the same key is remembered, enqueueing again adds nothing.
         *
         * @throws IllegalArgumentException if not 1-128 printable characters without spaces
         */
        public Builder idempotencyKey(String key) {
            this.idempotencyKey = checkName("idempotency key", key);
            return this;
        }

        /** The request. */
        public JobRequest build() {
            return new JobRequest(this);
        }
    }
}

package dev.sluice.core;

/** Every metric name and tag Sluice's limiter records, in one place. Tags are of low cardinality; keys never are tags. */
public final class SluiceMetricNames {

    /** Counter of final decisions; tags {@link #TAG_LIMITER}, {@link #TAG_RESULT} (a lower-case decision reason). */
    public static final String ACQUISITIONS = "sluice.limiter.acquisitions";
    /**
     * Counter of units per dimension; tags {@link #TAG_LIMITER}, {@link #TAG_DIMENSION}, {@link #TAG_RESULT}
     * ({@code granted}, {@code denied} or {@code refunded}).
     */
    public static final String UNITS = "sluice.limiter.units";
    /** Timer of the time blocking and async acquires spent waiting; tag {@link #TAG_LIMITER}. */
    public static final String WAIT = "sluice.limiter.wait";
    /** Gauge of the keys holding state in the backend; tag {@link #TAG_LIMITER}. */
    public static final String KEYS = "sluice.limiter.keys";

    /** Function counter of decisions a shared backend took without its server (by its failure policy); tags
     * {@link #TAG_BACKEND}, {@link #TAG_NAMESPACE}. */
    public static final String BACKEND_DEGRADED = "sluice.backend.degraded";

    /** Gauge of unfinished jobs in a dispatcher's queue; tags {@link #TAG_DISPATCHER}, {@link #TAG_PRIORITY}. */
    public static final String QUEUE_DEPTH = "sluice.queue.depth";
    /** Timer of the time jobs waited from enqueue to start; tags {@link #TAG_DISPATCHER}, {@link #TAG_PRIORITY}. */
    public static final String QUEUE_WAIT = "sluice.queue.wait";
    /**
     * Counter of jobs by outcome; tags {@link #TAG_DISPATCHER}, {@link #TAG_PRIORITY}, {@link #TAG_RESULT}
     * ({@code done}, {@code failed}, {@code dead_lettered}, {@code expired}, {@code cancelled}).
     */
    public static final String QUEUE_JOBS = "sluice.queue.jobs";

    /** The backend kind, such as {@code redis}. */
    public static final String TAG_BACKEND = "backend";
    /** A backend's key namespace. */
    public static final String TAG_NAMESPACE = "namespace";
    /** The limiter's name. */
    public static final String TAG_LIMITER = "limiter";
    /** The outcome. */
    public static final String TAG_RESULT = "result";
    /** A dispatcher's name. */
    public static final String TAG_DISPATCHER = "dispatcher";
    /** A job's priority class, lower case. */
    public static final String TAG_PRIORITY = "priority";
    /** The dimension of a limit, such as {@code tokens}. */
    public static final String TAG_DIMENSION = "dimension";

    private SluiceMetricNames() {
    }
}

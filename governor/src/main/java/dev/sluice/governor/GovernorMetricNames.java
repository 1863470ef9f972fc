package dev.sluice.governor;

/** Every metric name and tag the governor records, in one place; tags of low cardinality, never keys or prompts. */
public final class GovernorMetricNames {

    /** Function counter of calls by outcome; tags {@link #TAG_GOVERNOR}, {@link #TAG_RESULT}. */
    public static final String CALLS = "sluice.governor.calls";
    /** Function counter of attempts sent upstream; tag {@link #TAG_GOVERNOR}. */
    public static final String ATTEMPTS = "sluice.governor.attempts";
    /** Function counter of retries; tag {@link #TAG_GOVERNOR}. */
    public static final String RETRIES = "sluice.governor.retries";
    /** Function counter of 429s seen; tags {@link #TAG_GOVERNOR}, {@link #TAG_KIND} ({@code window} or {@code daily}). */
    public static final String RATE_LIMITED = "sluice.governor.rate_limited";
    /**
     * Function counter of tokens; tags {@link #TAG_GOVERNOR}, {@link #TAG_KIND} ({@code reserved}, {@code actual},
     * {@code refunded}, {@code debt}).
     */
    public static final String TOKENS = "sluice.governor.tokens";
    /** Function counter of |estimated − reported| prompt tokens; tag {@link #TAG_GOVERNOR}. */
    public static final String ESTIMATION_ERROR = "sluice.governor.estimation.error";
    /** Function timer of cooldowns set from 429s; tag {@link #TAG_GOVERNOR}. */
    public static final String COOLDOWN = "sluice.governor.cooldown";
    /** Function timer of time calls waited before their attempts; tag {@link #TAG_GOVERNOR}. */
    public static final String WAIT = "sluice.governor.wait";

    /** The governor's name. */
    public static final String TAG_GOVERNOR = "governor";
    /** The outcome of a call: {@code succeeded} or {@code failed}. */
    public static final String TAG_RESULT = "result";
    /** A sub-kind, see each metric. */
    public static final String TAG_KIND = "kind";

    private GovernorMetricNames() {
    }
}

package dev.sluice.core;

/** What a limiter decides while its shared backend cannot answer within the configured timeout. */
public enum FailurePolicy {
    /** Deny, with {@link dev.sluice.api.Decision.Reason#BACKEND_UNAVAILABLE}: never more than the quota. */
    FAIL_CLOSED,
    /** Grant everything: availability over limits. */
    FAIL_OPEN,
    /** Decide on a local backend with a configured share of each limit, so that N instances stay near the quota. */
    LOCAL_FALLBACK
}

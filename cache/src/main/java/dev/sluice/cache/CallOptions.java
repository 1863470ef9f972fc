package dev.sluice.cache;

/**
 * What one call asks of the cache, beyond the policy.
 *
 * @param bypass neither read nor write the cache: go upstream (through the caller's limiter) and return that
 * @param refresh do not read the cache, go upstream and replace the stored answer with the new one (if storable)
 * @param optIn cache this call even though the policy would not (for example a request with a temperature above 0
 *     whose caller accepts a repeated answer)
 */
public record CallOptions(boolean bypass, boolean refresh, boolean optIn) {

    private static final CallOptions DEFAULTS = new CallOptions(false, false, false);

    /** The policy decides. */
    public static CallOptions defaults() {
        return DEFAULTS;
    }

    /** Skip the cache for this call. */
    public static CallOptions bypassing() {
        return new CallOptions(true, false, false);
    }

    /** Go upstream and replace the stored answer. */
    public static CallOptions refreshing() {
        return new CallOptions(false, true, false);
    }

    /** Cache this call even if it is not deterministic. */
    public static CallOptions optingIn() {
        return new CallOptions(false, false, true);
    }

    /** These options, also refreshing. */
    public CallOptions withRefresh() {
        return new CallOptions(bypass, true, optIn);
    }

    /** These options, also opting in. */
    public CallOptions withOptIn() {
        return new CallOptions(bypass, refresh, true);
    }
}

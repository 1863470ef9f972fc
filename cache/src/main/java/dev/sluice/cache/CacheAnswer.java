package dev.sluice.cache;

/**
 * The answer to a call through the cache, and where it came from.
 *
 * @param response the answer
 * @param source where it came from
 */
public record CacheAnswer(LlmResponse response, Source source) {

    /** Where an answer came from. */
    public enum Source {
        /** The in-process near cache. */
        NEAR_HIT,
        /** The shared store. */
        HIT,
        /** Another caller's upstream call for the same request, on this instance or (through the store) another. */
        COALESCED,
        /** This call's own upstream call, after a miss. */
        MISS,
        /** This call's own upstream call, asked for by {@link CallOptions#refresh()}. */
        REFRESHED,
        /** This call's own upstream call, the cache skipped (by the caller or the policy). */
        BYPASSED;

        /** Whether this call itself went upstream (and so spent quota, where the upstream applies a limiter). */
        public boolean calledUpstream() {
            return this == MISS || this == REFRESHED || this == BYPASSED;
        }
    }
}

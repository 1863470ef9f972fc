package dev.sluice.cache;

/**
 * Counts of one {@link ResponseCache} since it was built.
 *
 * @param nearHits answers from the near cache
 * @param hits answers from the shared store, found by the lookup
 * @param misses lookups that found nothing (each then led an upstream call or was coalesced into one)
 * @param coalescedLocal misses that shared a call in flight on this instance, counted when that call ends (a follower
 *     whose leader was interrupted shares nothing: it leads anew or joins another call)
 * @param coalescedShared misses answered by another caller's call through the store (another instance's, or one that
 *     finished just after the lookup)
 * @param bypassed calls that skipped the cache (by the caller, the policy or a zero time to live)
 * @param refreshes calls that refreshed their entry
 * @param stores answers written to the store
 * @param storedBytes bytes written to the store
 * @param notStored answers the policy refused to store (errors, 429s, truncated, partial, too large)
 * @param errors store operations that failed (each treated as a miss or skipped)
 * @param nearEvictions near-cache entries dropped by size or expiry
 * @param nearBytes the near cache's approximate size in bytes now
 * @param waitTimeouts followers that stopped waiting for another instance and called upstream themselves
 */
public record CacheStats(long nearHits, long hits, long misses, long coalescedLocal, long coalescedShared,
        long bypassed, long refreshes, long stores, long storedBytes, long notStored, long errors, long nearEvictions,
        long nearBytes, long waitTimeouts) {

    /** Calls that went upstream from this instance: misses not coalesced, plus refreshes and bypasses. */
    public long upstreamCalls() {
        return misses - coalescedLocal - coalescedShared + refreshes + bypassed;
    }
}

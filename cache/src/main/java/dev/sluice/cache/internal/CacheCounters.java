package dev.sluice.cache.internal;

import dev.sluice.cache.CachePolicy;
import dev.sluice.cache.CacheStats;
import java.util.concurrent.atomic.LongAdder;

/** The counters behind {@link CacheStats} and the cache's metrics. */
public final class CacheCounters {

    /** Near-cache hits. */
    public final LongAdder nearHits = new LongAdder();
    /** Store hits. */
    public final LongAdder hits = new LongAdder();
    /** Lookups that missed. */
    public final LongAdder misses = new LongAdder();
    /** Misses coalesced into a call on this instance. */
    public final LongAdder coalescedLocal = new LongAdder();
    /** Misses answered through the store by another caller's call. */
    public final LongAdder coalescedShared = new LongAdder();
    /** Bypasses by reason: caller, policy, ttl. */
    public final LongAdder[] bypassed = {new LongAdder(), new LongAdder(), new LongAdder()};
    /** Refreshes. */
    public final LongAdder refreshes = new LongAdder();
    /** Writes to the store. */
    public final LongAdder stores = new LongAdder();
    /** Bytes written to the store. */
    public final LongAdder storedBytes = new LongAdder();
    /** Answers not stored, by verdict (index = ordinal; STORE unused). */
    public final LongAdder[] notStored = new LongAdder[CachePolicy.Verdict.values().length];
    /** Failed store operations. */
    public final LongAdder errors = new LongAdder();
    /** Near-cache evictions. */
    public final LongAdder nearEvictions = new LongAdder();
    /** Followers that gave up waiting. */
    public final LongAdder waitTimeouts = new LongAdder();

    /** Zero counts. */
    public CacheCounters() {
        for (int i = 0; i < notStored.length; i++) {
            notStored[i] = new LongAdder();
        }
    }

    /** Counts a bypass; {@code reason} 0 caller, 1 policy, 2 zero ttl. */
    public void bypassed(int reason) {
        bypassed[reason].increment();
    }

    /** Counts a write of {@code bytes}. */
    public void stored(long bytes) {
        stores.increment();
        storedBytes.add(bytes);
    }

    /** Counts an answer refused for {@code verdict}. */
    public void notStored(CachePolicy.Verdict verdict) {
        notStored[verdict.ordinal()].increment();
    }

    /** The counts now. */
    public CacheStats snapshot(long nearBytes) {
        long notStoredTotal = 0;
        for (LongAdder a : notStored) {
            notStoredTotal += a.sum();
        }
        return new CacheStats(nearHits.sum(), hits.sum(), misses.sum(), coalescedLocal.sum(), coalescedShared.sum(),
                bypassed[0].sum() + bypassed[1].sum() + bypassed[2].sum(), refreshes.sum(), stores.sum(),
                storedBytes.sum(), notStoredTotal, errors.sum(), nearEvictions.sum(), nearBytes, waitTimeouts.sum());
    }
}

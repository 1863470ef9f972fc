package dev.sluice.cache;

/**
 * Every metric name and tag the response cache records. Tags are of low cardinality: never a key, a prompt, a model
 * chosen by callers or a credential.
 */
public final class CacheMetricNames {

    /** Function counter of answers from the cache; tags {@link #TAG_CACHE}, {@link #TAG_LEVEL} ({@code near}, {@code shared}). */
    public static final String HITS = "sluice.cache.hits";
    /** Function counter of lookups that found nothing; tag {@link #TAG_CACHE}. */
    public static final String MISSES = "sluice.cache.misses";
    /** Function counter of misses answered by another caller's upstream call; tags {@link #TAG_CACHE}, {@link #TAG_SCOPE} ({@code local}, {@code shared}). */
    public static final String COALESCED = "sluice.cache.coalesced";
    /** Function counter of calls that skipped the cache; tags {@link #TAG_CACHE}, {@link #TAG_REASON} ({@code caller}, {@code policy}, {@code ttl}). */
    public static final String BYPASSED = "sluice.cache.bypassed";
    /** Function counter of refreshing calls; tag {@link #TAG_CACHE}. */
    public static final String REFRESHES = "sluice.cache.refreshes";
    /** Function counter of answers written to the store; tag {@link #TAG_CACHE}. */
    public static final String STORES = "sluice.cache.stores";
    /** Function counter of bytes written to the store; tag {@link #TAG_CACHE}. */
    public static final String STORED_BYTES = "sluice.cache.stored.bytes";
    /** Function counter of answers not stored; tags {@link #TAG_CACHE}, {@link #TAG_REASON} (a lower-case {@link CachePolicy.Verdict}). */
    public static final String NOT_STORED = "sluice.cache.not.stored";
    /** Function counter of near-cache entries dropped by size or expiry; tags {@link #TAG_CACHE}, {@link #TAG_LEVEL} ({@code near}). */
    public static final String EVICTIONS = "sluice.cache.evictions";
    /** Gauge of the near cache's approximate bytes; tag {@link #TAG_CACHE}. */
    public static final String NEAR_BYTES = "sluice.cache.near.bytes";
    /** Gauge: approximate bytes in the shared store, for stores that can tell (Caffeine). */
    public static final String STORE_BYTES = "sluice.cache.store.bytes";
    /** Function counter of failed store operations; tag {@link #TAG_CACHE}. */
    public static final String ERRORS = "sluice.cache.errors";
    /** Function counter of followers that stopped waiting for another instance; tag {@link #TAG_CACHE}. */
    public static final String WAIT_TIMEOUTS = "sluice.cache.wait.timeouts";

    /** The cache's name. */
    public static final String TAG_CACHE = "cache";
    /** {@code near} or {@code shared}. */
    public static final String TAG_LEVEL = "level";
    /** {@code local} or {@code shared}. */
    public static final String TAG_SCOPE = "scope";
    /** Why. */
    public static final String TAG_REASON = "reason";

    private CacheMetricNames() {
    }
}

package dev.sluice.cache;

import dev.sluice.api.cache.CacheStore;
import dev.sluice.cache.internal.CacheCounters;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.atomic.LongAdder;

/**
 * Micrometer metrics of one {@link ResponseCache} (names in {@link CacheMetricNames}): hits by level, misses,
 * coalesced calls by scope, bypasses and refusals by reason, stores and stored bytes, evictions and bytes of the
 * near cache and of stores that can tell (Caffeine),
 * store errors. Function counters over the cache's own counts, so binding costs nothing per call and several
 * registries may be bound.
 */
public final class CacheMetrics implements MeterBinder {

    private static final String[] BYPASS_REASONS = {"caller", "policy", "ttl"};

    private final ResponseCache cache;

    /** Metrics of {@code cache}. */
    public CacheMetrics(ResponseCache cache) {
        this.cache = Objects.requireNonNull(cache, "cache");
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        CacheCounters c = cache.counters;
        String name = cache.name();
        counter(registry, CacheMetricNames.HITS, "Answers from the near cache", c.nearHits, name,
                CacheMetricNames.TAG_LEVEL, "near");
        counter(registry, CacheMetricNames.HITS, "Answers from the shared store", c.hits, name,
                CacheMetricNames.TAG_LEVEL, "shared");
        counter(registry, CacheMetricNames.MISSES, "Lookups that found nothing", c.misses, name);
        counter(registry, CacheMetricNames.COALESCED, "Misses that shared a call in flight on this instance",
                c.coalescedLocal, name, CacheMetricNames.TAG_SCOPE, "local");
        counter(registry, CacheMetricNames.COALESCED, "Misses answered through the store by another caller's call",
                c.coalescedShared, name, CacheMetricNames.TAG_SCOPE, "shared");
        for (int i = 0; i < BYPASS_REASONS.length; i++) {
            counter(registry, CacheMetricNames.BYPASSED, "Calls that skipped the cache", c.bypassed[i], name,
                    CacheMetricNames.TAG_REASON, BYPASS_REASONS[i]);
        }
        counter(registry, CacheMetricNames.REFRESHES, "Calls that refreshed their entry", c.refreshes, name);
        counter(registry, CacheMetricNames.STORES, "Answers written to the store", c.stores, name);
        FunctionCounter.builder(CacheMetricNames.STORED_BYTES, c.storedBytes, LongAdder::doubleValue)
                .description("Bytes written to the store").baseUnit("bytes")
                .tag(CacheMetricNames.TAG_CACHE, name).register(registry);
        for (CachePolicy.Verdict v : CachePolicy.Verdict.values()) {
            if (v != CachePolicy.Verdict.STORE) {
                counter(registry, CacheMetricNames.NOT_STORED, "Answers the policy refused to store",
                        c.notStored[v.ordinal()], name, CacheMetricNames.TAG_REASON,
                        v.name().toLowerCase(Locale.ROOT));
            }
        }
        counter(registry, CacheMetricNames.EVICTIONS, "Near-cache entries dropped by size or expiry",
                c.nearEvictions, name, CacheMetricNames.TAG_LEVEL, "near");
        Gauge.builder(CacheMetricNames.NEAR_BYTES, cache, ResponseCache::nearBytes)
                .description("Approximate bytes in the near cache").baseUnit("bytes")
                .tag(CacheMetricNames.TAG_CACHE, name).register(registry);
        CacheStore store = cache.store();
        if (store.evictions() >= 0) {
            FunctionCounter.builder(CacheMetricNames.EVICTIONS, store, CacheStore::evictions)
                    .description("Shared-store entries dropped by size or expiry")
                    .tag(CacheMetricNames.TAG_CACHE, name).tag(CacheMetricNames.TAG_LEVEL, "shared").register(registry);
        }
        if (store.bytes() >= 0) {
            Gauge.builder(CacheMetricNames.STORE_BYTES, store, CacheStore::bytes)
                    .description("Approximate bytes in the shared store").baseUnit("bytes")
                    .tag(CacheMetricNames.TAG_CACHE, name).register(registry);
        }
        counter(registry, CacheMetricNames.ERRORS, "Store operations that failed", c.errors, name);
        counter(registry, CacheMetricNames.WAIT_TIMEOUTS, "Followers that stopped waiting for another instance",
                c.waitTimeouts, name);
    }

    private static void counter(MeterRegistry registry, String metric, String description, LongAdder adder,
            String cache, String... tags) {
        FunctionCounter.builder(metric, adder, LongAdder::doubleValue)
                .description(description)
                .tag(CacheMetricNames.TAG_CACHE, cache)
                .tags(tags)
                .register(registry);
    }
}

package dev.sluice.memory;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import com.github.benmanes.caffeine.cache.RemovalCause;
import dev.sluice.api.Ticker;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.api.cache.StoreArguments;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;

/**
 * A {@link CacheStore} in this JVM on Caffeine: each entry with its own time to live (a Caffeine {@link Expiry}),
 * bounded by a number of entries or by an approximate number of bytes (keys, values and a fixed overhead), with
 * Caffeine's W-TinyLFU choosing what to evict. Not shared between instances; as a near cache in front of a shared
 * store, or as the only store of a single instance.
 *
 * <p>Time comes from a {@link Ticker} (the system's by default), so tests expire entries on a manual clock. Values
 * are copied in and out.
 */
public final class MemoryCacheStore implements CacheStore, AutoCloseable {

    /** Bytes counted per entry beyond its key and value: the node, the holder and the map slot, roughly. */
    static final int ENTRY_OVERHEAD = 96;

    private record Held(byte[] bytes, long ttlNanos) {
    }

    private final Cache<String, Held> cache;
    private final LongAdder evictions = new LongAdder();
    private final AtomicLong bytes = new AtomicLong();

    private MemoryCacheStore(Builder b) {
        Ticker ticker = b.ticker;
        Caffeine<Object, Object> caffeine = Caffeine.newBuilder()
                .ticker(() -> ticker.nowMicros() * 1000)
                .executor(Runnable::run);
        Caffeine<String, Held> typed = caffeine.expireAfter(new Expiry<String, Held>() {
            @Override
            public long expireAfterCreate(String key, Held value, long currentTime) {
                return value.ttlNanos();
            }

            @Override
            public long expireAfterUpdate(String key, Held value, long currentTime, long currentDuration) {
                return value.ttlNanos();
            }

            @Override
            public long expireAfterRead(String key, Held value, long currentTime, long currentDuration) {
                return currentDuration;
            }
        }).removalListener((String key, @Nullable Held value, RemovalCause cause) -> {
            if (value != null && key != null) {
                bytes.addAndGet(-weight(key, value));
            }
            if (cause.wasEvicted()) {
                evictions.increment();
            }
        });
        if (b.maximumBytes > 0) {
            typed.maximumWeight(b.maximumBytes).weigher((String k, Held v) -> (int) Math.min(Integer.MAX_VALUE,
                    weight(k, v)));
        } else {
            typed.maximumSize(b.maximumEntries);
        }
        this.cache = typed.build();
    }

    private static long weight(String key, Held value) {
        return 2L * key.length() + value.bytes().length + ENTRY_OVERHEAD;
    }

    /** A builder: 10,000 entries at most, system time. */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public byte @Nullable [] get(String key) {
        Held held = cache.getIfPresent(StoreArguments.key(key));
        return held == null ? null : held.bytes().clone();
    }

    @Override
    public void put(String key, byte[] value, Duration ttl) {
        Held held = hold(key, value, ttl);
        cache.put(key, held);
        bytes.addAndGet(weight(key, held)); // the replaced entry's bytes go in the removal listener
    }

    @Override
    public boolean putIfAbsent(String key, byte[] value, Duration ttl) {
        Held held = hold(key, value, ttl);
        // Caffeine's putIfAbsent treats an expired entry as absent (and replaces it) atomically.
        boolean stored = cache.asMap().putIfAbsent(key, held) == null;
        if (stored) {
            bytes.addAndGet(weight(key, held));
        }
        return stored;
    }

    @Override
    public boolean remove(String key) {
        // Caffeine answers null for an expired entry, so this is "was live".
        return cache.asMap().remove(StoreArguments.key(key)) != null;
    }

    /** Atomic: one {@code compute} on the entry, comparing the bytes. */
    @Override
    public boolean removeIfEquals(String key, byte[] expected) {
        StoreArguments.key(key);
        StoreArguments.value(expected);
        // Read, then remove that very holder: a compute returning the holder unchanged would restart its expiry.
        Held current = cache.getIfPresent(key);
        return current != null && Arrays.equals(current.bytes(), expected) && cache.asMap().remove(key, current);
    }

    /** Atomic: one {@code compute} on the entry, comparing the bytes; the new holder restarts its time to live. */
    @Override
    public boolean renewIfEquals(String key, byte[] expected, Duration ttl) {
        StoreArguments.key(key);
        StoreArguments.value(expected);
        long ttlNanos = StoreArguments.ttlNanos(ttl);
        // Read, then replace that very holder: a compute returning a holder unchanged would restart its expiry,
        // renewing another caller's entry.
        Held current = cache.getIfPresent(key);
        if (current == null || !Arrays.equals(current.bytes(), expected)) {
            return false;
        }
        Held renewed = new Held(current.bytes(), ttlNanos);
        if (!cache.asMap().replace(key, current, renewed)) {
            return false; // replaced or removed meanwhile: no longer the entry the caller meant
        }
        bytes.addAndGet(weight(key, renewed)); // the replaced holder's bytes go in the removal listener
        return true;
    }

    private static Held hold(String key, byte[] value, Duration ttl) {
        StoreArguments.key(key);
        StoreArguments.value(value);
        return new Held(value.clone(), StoreArguments.ttlNanos(ttl));
    }

    /** A copy of the live entries (keys as the callers gave them, values copied): for inspection and tests. */
    public Map<String, byte[]> snapshot() {
        Map<String, byte[]> copy = new HashMap<>();
        cache.asMap().forEach((k, held) -> copy.put(k, held.bytes().clone()));
        return copy;
    }

    /** Entries held now, expired ones not yet swept included (approximate). */
    public long size() {
        return cache.estimatedSize();
    }

    /** Entries the store dropped by itself so far: evicted to stay within its bound, or expired (removals not counted). */
    @Override
    public long evictions() {
        return evictions.sum();
    }

    /** Approximate bytes held now (keys, values and per-entry overhead). */
    @Override
    public long bytes() {
        return bytes.get();
    }

    /** Runs pending maintenance now: evictions to the bound, expired entries swept. */
    public void cleanUp() {
        cache.cleanUp();
    }

    /** Drops every entry. */
    @Override
    public void close() {
        cache.invalidateAll();
        cache.cleanUp();
    }

    /** Builds a {@link MemoryCacheStore}. */
    public static final class Builder {
        private long maximumEntries = 10_000;
        private long maximumBytes;
        private Ticker ticker = Ticker.system();

        private Builder() {
        }

        /**
         * At most {@code entries} entries (default 10,000); replaces a byte bound.
         *
         * @throws IllegalArgumentException unless positive
         */
        public Builder maximumEntries(long entries) {
            if (entries <= 0) {
                throw new IllegalArgumentException("maximumEntries must be positive, was " + entries);
            }
            this.maximumEntries = entries;
            this.maximumBytes = 0;
            return this;
        }

        /**
         * At most about {@code bytes} bytes of keys, values and per-entry overhead; replaces an entry bound.
         *
         * @throws IllegalArgumentException unless positive
         */
        public Builder maximumBytes(long bytes) {
            if (bytes <= 0) {
                throw new IllegalArgumentException("maximumBytes must be positive, was " + bytes);
            }
            this.maximumBytes = bytes;
            return this;
        }

        /** Where time comes from (default {@link Ticker#system()}); a manual ticker for tests. */
        public Builder ticker(Ticker ticker) {
            this.ticker = Objects.requireNonNull(ticker, "ticker");
            return this;
        }

        /** The store. */
        public MemoryCacheStore build() {
            return new MemoryCacheStore(this);
        }
    }
}

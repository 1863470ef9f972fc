package dev.sluice.cache;

import dev.sluice.api.cache.CacheStore;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * A store that passes every call to another after a test's hook has seen it (and may hold or fail it), counting calls
 * per operation. The asynchronous forms are the interface's defaults, so they pass through the blocking ones here.
 */
final class ProbeStore implements CacheStore {

    /** Sees each operation, by name, before it reaches the store; may block or throw. */
    @FunctionalInterface
    interface Hook {
        void before(String op, String key);
    }

    private final CacheStore inner;
    private final Hook hook;
    private final ConcurrentHashMap<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, AtomicInteger> finished = new ConcurrentHashMap<>();

    ProbeStore(CacheStore inner, Hook hook) {
        this.inner = inner;
        this.hook = hook;
    }

    /** Calls of {@code op} so far, failed ones included. */
    int calls(String op) {
        AtomicInteger n = calls.get(op);
        return n == null ? 0 : n.get();
    }

    /** Calls of every operation so far. */
    int calls() {
        return calls.values().stream().mapToInt(AtomicInteger::get).sum();
    }

    /** Calls of {@code op} that returned or threw so far. */
    int finished(String op) {
        AtomicInteger n = finished.get(op);
        return n == null ? 0 : n.get();
    }

    private void see(String op, String key) {
        calls.computeIfAbsent(op, o -> new AtomicInteger()).incrementAndGet();
        hook.before(op, key);
    }

    private void done(String op) {
        finished.computeIfAbsent(op, o -> new AtomicInteger()).incrementAndGet();
    }

    /** {@code call} on the inner store, after the hook saw {@code op} on {@code key}; counted as finished either way. */
    private <T> T probe(String op, String key, Supplier<T> call) {
        try {
            see(op, key);
            return call.get();
        } finally {
            done(op);
        }
    }

    @Override
    public byte @Nullable [] get(String key) {
        return probe("get", key, () -> inner.get(key));
    }

    @Override
    public void put(String key, byte[] value, Duration ttl) {
        probe("put", key, () -> {
            inner.put(key, value, ttl);
            return null;
        });
    }

    @Override
    public boolean putIfAbsent(String key, byte[] value, Duration ttl) {
        return probe("putIfAbsent", key, () -> inner.putIfAbsent(key, value, ttl));
    }

    @Override
    public boolean remove(String key) {
        return probe("remove", key, () -> inner.remove(key));
    }

    @Override
    public boolean removeIfEquals(String key, byte[] expected) {
        return probe("removeIfEquals", key, () -> inner.removeIfEquals(key, expected));
    }

    @Override
    public boolean renewIfEquals(String key, byte[] expected, Duration ttl) {
        return probe("renewIfEquals", key, () -> inner.renewIfEquals(key, expected, ttl));
    }
}

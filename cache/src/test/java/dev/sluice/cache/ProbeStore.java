package dev.sluice.cache;

import dev.sluice.api.cache.CacheStore;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
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

    private void see(String op, String key) {
        calls.computeIfAbsent(op, o -> new AtomicInteger()).incrementAndGet();
        hook.before(op, key);
    }

    @Override
    public byte @Nullable [] get(String key) {
        see("get", key);
        return inner.get(key);
    }

    @Override
    public void put(String key, byte[] value, Duration ttl) {
        see("put", key);
        inner.put(key, value, ttl);
    }

    @Override
    public boolean putIfAbsent(String key, byte[] value, Duration ttl) {
        see("putIfAbsent", key);
        return inner.putIfAbsent(key, value, ttl);
    }

    @Override
    public boolean remove(String key) {
        see("remove", key);
        return inner.remove(key);
    }

    @Override
    public boolean removeIfEquals(String key, byte[] expected) {
        see("removeIfEquals", key);
        return inner.removeIfEquals(key, expected);
    }
}

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

    @Override
    public byte @Nullable [] get(String key) {
        try {
            see("get", key);
            return inner.get(key);
        } finally {
            done("get");
        }
    }

    @Override
    public void put(String key, byte[] value, Duration ttl) {
        try {
            see("put", key);
            inner.put(key, value, ttl);
        } finally {
            done("put");
        }
    }

    @Override
    public boolean putIfAbsent(String key, byte[] value, Duration ttl) {
        try {
            see("putIfAbsent", key);
            return inner.putIfAbsent(key, value, ttl);
        } finally {
            done("putIfAbsent");
        }
    }

    @Override
    public boolean remove(String key) {
        try {
            see("remove", key);
            return inner.remove(key);
        } finally {
            done("remove");
        }
    }

    @Override
    public boolean removeIfEquals(String key, byte[] expected) {
        try {
            see("removeIfEquals", key);
            return inner.removeIfEquals(key, expected);
        } finally {
            done("removeIfEquals");
        }
    }

    @Override
    public boolean renewIfEquals(String key, byte[] expected, Duration ttl) {
        try {
            see("renewIfEquals", key);
            return inner.renewIfEquals(key, expected, ttl);
        } finally {
            done("renewIfEquals");
        }
    }
}

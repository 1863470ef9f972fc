package dev.sluice.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.api.ManualTicker;
import dev.sluice.api.cache.CacheStore;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The contract every {@link CacheStore} keeps, as a JUnit 5 suite. A store's test is a short subclass that builds an
 * empty store and says, through capability flags, whether it expires on the kit's manual clock and how it is bounded:
 *
 * <pre>{@code
 * class MemoryCacheCompatibilityTest extends CacheCompatibilityKit {
 *     protected CacheStore createStore(ManualTicker ticker) {
 *         return MemoryCacheStore.builder().ticker(ticker).maximumEntries(100).build();
 *     }
 *     protected boolean expiresOnTicker() { return true; }
 *     protected long maximumEntries() { return 100; }
 * }
 * }</pre>
 *
 * Stores that keep their own time (Redis, Hazelcast) are checked for expiry in real time with short times to live,
 * waiting a bounded while; stores on the manual clock never wait.
 */
public abstract class CacheCompatibilityKit {

    /** The clock of the current test. */
    protected ManualTicker ticker;
    /** The store of the current test. */
    protected CacheStore store;

    private final List<String> written = new ArrayList<>();

    /** A new, empty store; stores that can read time from {@code ticker} should. */
    protected abstract CacheStore createStore(ManualTicker ticker);

    /** Whether the store reads time from the ticker given to {@link #createStore}; otherwise expiry runs in real time. */
    protected boolean expiresOnTicker() {
        return false;
    }

    /** The number of entries the store is bounded to, or 0 if it is not bounded by count. */
    protected long maximumEntries() {
        return 0;
    }

    /** Lets the store finish pending maintenance (eviction) before a bound is checked; nothing by default. */
    protected void settle(CacheStore store) {
    }

    /** Releases the store after a test; nothing by default. */
    protected void closeStore(CacheStore store) throws Exception {
        if (store instanceof AutoCloseable c) {
            c.close();
        }
    }

    @BeforeEach
    void setUpCacheKit() {
        ticker = new ManualTicker(1_000_000_000L);
        store = createStore(ticker);
    }

    @AfterEach
    void tearDownCacheKit() throws Exception {
        for (String key : written) {
            store.remove(key);
        }
        written.clear();
        closeStore(store);
    }

    /** A key unique to this test run, removed after the test (stores may be shared between tests). */
    protected String key(String name) {
        String k = getClass().getSimpleName() + "/" + System.nanoTime() + "/" + name;
        written.add(k);
        return k;
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static final Duration HOUR = Duration.ofHours(1);

    // ---------------------------------------------------------------- basic operations

    @Test
    @DisplayName("get answers null for a key never put")
    void getMissing() {
        assertThat(store.get(key("missing"))).isNull();
    }

    @Test
    @DisplayName("get answers the bytes put, and a second put replaces them")
    void putGetReplace() {
        String k = key("k");
        store.put(k, bytes("one"), HOUR);
        assertThat(store.get(k)).isEqualTo(bytes("one"));
        store.put(k, bytes("two"), HOUR);
        assertThat(store.get(k)).isEqualTo(bytes("two"));
    }

    @Test
    @DisplayName("An empty value is stored as a value, distinct from an absent one")
    void emptyValue() {
        String k = key("empty");
        store.put(k, new byte[0], HOUR);
        assertThat(store.get(k)).isNotNull().isEmpty();
    }

    @Test
    @DisplayName("Values are copied in and out: changing an array after put or get changes nothing stored")
    void valuesAreCopied() {
        String k = key("copy");
        byte[] in = bytes("abc");
        store.put(k, in, HOUR);
        in[0] = 'X';
        byte[] out = store.get(k);
        assertThat(out).isEqualTo(bytes("abc"));
        out[1] = 'Y';
        assertThat(store.get(k)).isEqualTo(bytes("abc"));
    }

    @Test
    @DisplayName("remove deletes the entry and answers whether one was live")
    void remove() {
        String k = key("rm");
        assertThat(store.remove(k)).isFalse();
        store.put(k, bytes("v"), HOUR);
        assertThat(store.remove(k)).isTrue();
        assertThat(store.get(k)).isNull();
        assertThat(store.remove(k)).isFalse();
    }

    @Test
    @DisplayName("putIfAbsent stores only when nothing is live, and never replaces a live entry")
    void putIfAbsent() {
        String k = key("pia");
        assertThat(store.putIfAbsent(k, bytes("first"), HOUR)).isTrue();
        assertThat(store.putIfAbsent(k, bytes("second"), HOUR)).isFalse();
        assertThat(store.get(k)).isEqualTo(bytes("first"));
        store.remove(k);
        assertThat(store.putIfAbsent(k, bytes("third"), HOUR)).isTrue();
        assertThat(store.get(k)).isEqualTo(bytes("third"));
    }

    @Test
    @DisplayName("removeIfEquals removes only a live entry holding exactly the expected bytes")
    void removeIfEquals() {
        String k = key("cad");
        assertThat(store.removeIfEquals(k, bytes("mine"))).isFalse();
        store.put(k, bytes("theirs"), HOUR);
        assertThat(store.removeIfEquals(k, bytes("mine"))).isFalse();
        assertThat(store.get(k)).isEqualTo(bytes("theirs"));
        assertThat(store.removeIfEquals(k, bytes("theirs"))).isTrue();
        assertThat(store.get(k)).isNull();
        assertRejected(NullPointerException.class, () -> store.removeIfEquals(k, null));
        assertRejected(IllegalArgumentException.class, () -> store.removeIfEquals("", bytes("x")));
    }

    @Test
    @DisplayName("renewIfEquals sets a new time to live only on a live entry holding exactly the expected bytes")
    void renewIfEquals() throws InterruptedException {
        String theirs = key("renew-theirs");
        String mine = key("renew-mine");
        String probe = key("renew-probe");
        assertThat(store.renewIfEquals(mine, bytes("mine"), HOUR)).isFalse();
        assertThat(join(store.renewIfEqualsAsync(mine, bytes("mine"), HOUR))).isFalse();
        assertThat(store.get(mine)).as("a renewal creates nothing").isNull();
        store.put(theirs, bytes("theirs"), HOUR);
        store.put(mine, bytes("mine"), HOUR);
        store.put(probe, bytes("probe"), Duration.ofMillis(150));
        assertThat(store.renewIfEquals(theirs, bytes("mine"), Duration.ofMillis(150))).isFalse();
        assertThat(join(store.renewIfEqualsAsync(theirs, bytes("mine"), Duration.ofMillis(150)))).isFalse();
        assertThat(store.renewIfEquals(mine, bytes("mine"), Duration.ofMillis(150))).isTrue();
        if (expiresOnTicker()) {
            ticker.advance(Duration.ofMillis(151));
        } else {
            assertThat(awaitNull(probe)).as("the probe is gone within 10 s").isTrue();
            assertThat(awaitNull(mine)).as("the renewed entry is gone within 10 s").isTrue();
        }
        assertThat(store.get(mine)).as("renewed to 150 ms").isNull();
        assertThat(store.get(theirs)).as("neither renewal touched another's entry").isEqualTo(bytes("theirs"));
        store.put(mine, bytes("mine"), Duration.ofSeconds(5));
        assertThat(join(store.renewIfEqualsAsync(mine, bytes("mine"), HOUR))).isTrue();
        assertThat(store.get(mine)).isEqualTo(bytes("mine"));
        assertRejected(NullPointerException.class, () -> store.renewIfEquals(mine, null, HOUR));
        assertRejected(IllegalArgumentException.class, () -> store.renewIfEquals("", bytes("x"), HOUR));
        assertRejected(IllegalArgumentException.class, () -> store.renewIfEquals(mine, bytes("mine"), Duration.ZERO));
        assertFailedStage(IllegalArgumentException.class,
                () -> store.renewIfEqualsAsync(mine, bytes("mine"), Duration.ZERO));
        assertThat(store.get(mine)).isEqualTo(bytes("mine"));
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    @DisplayName("removeIfEquals is atomic: of 8 threads releasing one marker, exactly one removes it")
    void removeIfEqualsHasOneWinner() throws Exception {
        int threads = 8;
        int rounds = 50;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            for (int r = 0; r < rounds; r++) {
                String k = key("release-" + r);
                store.put(k, bytes("marker"), HOUR);
                CyclicBarrier start = new CyclicBarrier(threads);
                List<Future<Boolean>> results = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    results.add(pool.submit(() -> {
                        start.await(30, TimeUnit.SECONDS);
                        return store.removeIfEquals(k, bytes("marker"));
                    }));
                }
                int removed = 0;
                for (Future<Boolean> f : results) {
                    removed += f.get(60, TimeUnit.SECONDS) ? 1 : 0;
                }
                assertThat(removed).as("round %d", r).isEqualTo(1);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    @DisplayName("Keys are independent: entries under different keys do not see each other")
    void keysAreIndependent() {
        String a = key("a");
        String b = key("b");
        store.put(a, bytes("A"), HOUR);
        store.put(b, bytes("B"), HOUR);
        store.remove(a);
        assertThat(store.get(a)).isNull();
        assertThat(store.get(b)).isEqualTo(bytes("B"));
    }

    @Test
    @DisplayName("The asynchronous forms read and write the same entries as the blocking ones")
    void asyncForms() {
        String k = key("async");
        join(store.putAsync(k, bytes("v1"), HOUR));
        assertThat(store.get(k)).isEqualTo(bytes("v1"));
        assertThat(join(store.getAsync(k))).isEqualTo(bytes("v1"));
        assertThat(join(store.putIfAbsentAsync(k, bytes("v2"), HOUR))).isFalse();
        assertThat(join(store.removeAsync(k))).isTrue();
        assertThat(join(store.getAsync(k))).isNull();
        assertThat(join(store.putIfAbsentAsync(k, bytes("v3"), HOUR))).isTrue();
        assertThat(store.get(k)).isEqualTo(bytes("v3"));
        assertThat(join(store.removeIfEqualsAsync(k, bytes("v1")))).isFalse();
        assertThat(join(store.removeIfEqualsAsync(k, bytes("v3")))).isTrue();
        assertThat(store.get(k)).isNull();
    }

    // ---------------------------------------------------------------- concurrency

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    @DisplayName("putIfAbsent is atomic: of 8 threads racing on each of 200 keys exactly one wins, and its value stays")
    void putIfAbsentHasOneWinner() throws Exception {
        int threads = 8;
        int keys = 200;
        List<String> names = new ArrayList<>();
        for (int i = 0; i < keys; i++) {
            names.add(key("race-" + i));
        }
        CyclicBarrier start = new CyclicBarrier(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<boolean[]>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                results.add(pool.submit(() -> {
                    boolean[] won = new boolean[keys];
                    start.await(30, TimeUnit.SECONDS);
                    for (int i = 0; i < keys; i++) {
                        won[i] = store.putIfAbsent(names.get(i), bytes("thread-" + thread), HOUR);
                    }
                    return won;
                }));
            }
            int[] winners = new int[keys];
            int[] winner = new int[keys];
            for (int t = 0; t < threads; t++) {
                boolean[] won = results.get(t).get(60, TimeUnit.SECONDS);
                for (int i = 0; i < keys; i++) {
                    if (won[i]) {
                        winners[i]++;
                        winner[i] = t;
                    }
                }
            }
            for (int i = 0; i < keys; i++) {
                assertThat(winners[i]).as("winners on key %d", i).isEqualTo(1);
                assertThat(store.get(names.get(i))).as("value of key %d", i).isEqualTo(bytes("thread-" + winner[i]));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    @DisplayName("Concurrent puts on one key leave exactly one of the values written, whole")
    void concurrentPutsLeaveOneWholeValue() throws Exception {
        int threads = 8;
        String k = key("puts");
        CyclicBarrier start = new CyclicBarrier(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        List<byte[]> values = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            byte[] v = new byte[10_000];
            Arrays.fill(v, (byte) t);
            values.add(v);
        }
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                byte[] v = values.get(t);
                done.add(pool.submit(() -> {
                    start.await(30, TimeUnit.SECONDS);
                    for (int i = 0; i < 50; i++) {
                        store.put(k, v, HOUR);
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
            byte[] last = store.get(k);
            assertThat(values).anySatisfy(v -> assertThat(last).isEqualTo(v));
        } finally {
            pool.shutdownNow();
        }
    }

    // ---------------------------------------------------------------- time to live

    @Test
    @DisplayName("An entry lives for its time to live and is never returned after it expired")
    void entryExpires() throws InterruptedException {
        String k = key("ttl");
        if (expiresOnTicker()) {
            store.put(k, bytes("v"), Duration.ofSeconds(10));
            ticker.advance(Duration.ofMillis(9_999));
            assertThat(store.get(k)).isEqualTo(bytes("v"));
            ticker.advance(Duration.ofMillis(2));
            assertThat(store.get(k)).isNull();
            assertThat(store.remove(k)).isFalse();
        } else {
            store.put(k, bytes("v"), Duration.ofSeconds(3));
            Thread.sleep(1_000); // a time to live taken in the wrong unit (3 ms, say) is gone by now
            assertThat(store.get(k)).as("an entry with a 3 s time to live, after 1 s").isEqualTo(bytes("v"));
            assertThat(awaitNull(k)).as("an entry with a 3 s time to live is gone within 10 s").isTrue();
        }
    }

    @Test
    @DisplayName("Each entry has its own time to live: a short one expires while a long one stays")
    void perEntryTtl() throws InterruptedException {
        String shortLived = key("short");
        String longLived = key("long");
        if (expiresOnTicker()) {
            store.put(longLived, bytes("long"), Duration.ofSeconds(60));
            store.put(shortLived, bytes("short"), Duration.ofSeconds(5));
            ticker.advance(Duration.ofSeconds(6));
        } else {
            store.put(longLived, bytes("long"), HOUR);
            store.put(shortLived, bytes("short"), Duration.ofMillis(150));
            assertThat(awaitNull(shortLived)).as("the short entry is gone within 10 s").isTrue();
        }
        assertThat(store.get(shortLived)).isNull();
        assertThat(store.get(longLived)).isEqualTo(bytes("long"));
    }

    @Test
    @DisplayName("A put replaces the time to live as well as the value")
    void putReplacesTtl() throws InterruptedException {
        String k = key("rettl");
        if (expiresOnTicker()) {
            store.put(k, bytes("v1"), Duration.ofSeconds(5));
            store.put(k, bytes("v2"), Duration.ofSeconds(60));
            ticker.advance(Duration.ofSeconds(10));
            assertThat(store.get(k)).isEqualTo(bytes("v2"));
            store.put(k, bytes("v3"), Duration.ofSeconds(1));
            ticker.advance(Duration.ofSeconds(2));
            assertThat(store.get(k)).isNull();
        } else {
            store.put(k, bytes("v1"), HOUR);
            store.put(k, bytes("v2"), Duration.ofMillis(150));
            assertThat(awaitNull(k)).as("the shortened entry is gone within 10 s").isTrue();
        }
    }

    @Test
    @DisplayName("putIfAbsent succeeds again once the live entry expired: a crashed holder never blocks for ever")
    void putIfAbsentAfterExpiry() throws InterruptedException {
        String k = key("marker");
        if (expiresOnTicker()) {
            assertThat(store.putIfAbsent(k, bytes("leader-1"), Duration.ofSeconds(2))).isTrue();
            ticker.advance(Duration.ofMillis(1_999));
            assertThat(store.putIfAbsent(k, bytes("leader-2"), Duration.ofSeconds(2))).isFalse();
            ticker.advance(Duration.ofMillis(2));
        } else {
            assertThat(store.putIfAbsent(k, bytes("leader-1"), Duration.ofMillis(150))).isTrue();
            assertThat(awaitNull(k)).as("the marker is gone within 10 s").isTrue();
        }
        assertThat(store.putIfAbsent(k, bytes("leader-2"), HOUR)).isTrue();
        assertThat(store.get(k)).isEqualTo(bytes("leader-2"));
    }

    @Test
    @DisplayName("The asynchronous putIfAbsent and removeIfEquals treat an expired entry as absent, like the blocking")
    void asyncConditionalFormsAfterExpiry() throws InterruptedException {
        String k = key("async-marker");
        assertThat(join(store.putIfAbsentAsync(k, bytes("leader-1"), Duration.ofMillis(150)))).isTrue();
        if (expiresOnTicker()) {
            assertThat(join(store.putIfAbsentAsync(k, bytes("leader-2"), HOUR))).isFalse();
            ticker.advance(Duration.ofMillis(151));
        } else {
            assertThat(awaitNull(k)).as("the marker is gone within 10 s").isTrue();
        }
        assertThat(join(store.removeIfEqualsAsync(k, bytes("leader-1")))).isFalse();
        assertThat(join(store.putIfAbsentAsync(k, bytes("leader-2"), HOUR))).isTrue();
        assertThat(store.get(k)).isEqualTo(bytes("leader-2"));
        assertThat(join(store.removeIfEqualsAsync(k, bytes("leader-1")))).isFalse();
        assertThat(join(store.removeIfEqualsAsync(k, bytes("leader-2")))).isTrue();
        assertThat(store.get(k)).isNull();
    }

    @Test
    @DisplayName("A time to live below one millisecond is kept for at least that long, not refused or made endless")
    void subMillisecondTtl() throws InterruptedException {
        String k = key("tiny");
        store.put(k, bytes("v"), Duration.ofNanos(1_000));
        if (expiresOnTicker()) {
            assertThat(store.get(k)).as("kept until its time to live passes").isEqualTo(bytes("v"));
            ticker.advance(Duration.ofMillis(2));
            assertThat(store.get(k)).isNull();
        } else {
            assertThat(awaitNull(k)).as("the entry is gone within 10 s").isTrue();
        }
    }

    /** Waits (up to 10 s, checking every 20 ms) for {@code key} to read null; answers whether it did. */
    private boolean awaitNull(String key) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            if (store.get(key) == null) {
                return true;
            }
            Thread.sleep(20);
        }
        return store.get(key) == null;
    }

    // ---------------------------------------------------------------- bounds

    @Test
    @DisplayName("A store bounded by count keeps at most its bound of entries, and still answers for recent ones")
    void sizeBound() {
        long bound = maximumEntries();
        assumeTrue(bound > 0, "store is not bounded by count");
        int n = (int) Math.min(bound * 4, 100_000);
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String k = key("bound-" + i);
            keys.add(k);
            store.put(k, bytes("v" + i), HOUR);
        }
        settle(store);
        long live = keys.stream().filter(k -> store.get(k) != null).count();
        assertThat(live).isLessThanOrEqualTo(bound).isPositive();
        String fresh = key("after-bound");
        store.put(fresh, bytes("fresh"), HOUR);
        assertThat(store.get(fresh)).isEqualTo(bytes("fresh"));
    }

    // ---------------------------------------------------------------- bad input

    @Test
    @DisplayName("A null key, value or time to live throws NullPointerException; the async forms fail their stage")
    void nullArguments() {
        byte[] v = bytes("v");
        assertRejected(NullPointerException.class, () -> store.get(null));
        assertRejected(NullPointerException.class, () -> store.put(null, v, HOUR));
        assertRejected(NullPointerException.class, () -> store.put(key("n"), null, HOUR));
        assertRejected(NullPointerException.class, () -> store.put(key("n"), v, null));
        assertRejected(NullPointerException.class, () -> store.putIfAbsent(null, v, HOUR));
        assertRejected(NullPointerException.class, () -> store.putIfAbsent(key("n"), null, HOUR));
        assertRejected(NullPointerException.class, () -> store.putIfAbsent(key("n"), v, null));
        assertRejected(NullPointerException.class, () -> store.remove(null));
        assertFailedStage(NullPointerException.class, () -> store.getAsync(null));
        assertFailedStage(NullPointerException.class, () -> store.putAsync(key("n"), null, HOUR));
    }

    @Test
    @DisplayName("An empty key throws IllegalArgumentException; the async forms fail their stage")
    void emptyKey() {
        byte[] v = bytes("v");
        assertRejected(IllegalArgumentException.class, () -> store.get(""));
        assertRejected(IllegalArgumentException.class, () -> store.put("", v, HOUR));
        assertRejected(IllegalArgumentException.class, () -> store.putIfAbsent("", v, HOUR));
        assertRejected(IllegalArgumentException.class, () -> store.remove(""));
        assertFailedStage(IllegalArgumentException.class, () -> store.getAsync(""));
        assertFailedStage(IllegalArgumentException.class, () -> store.removeAsync(""));
    }

    @Test
    @DisplayName("A time to live of zero or less throws IllegalArgumentException and stores nothing")
    void nonPositiveTtl() {
        String k = key("ttl0");
        byte[] v = bytes("v");
        assertRejected(IllegalArgumentException.class, () -> store.put(k, v, Duration.ZERO));
        assertRejected(IllegalArgumentException.class, () -> store.put(k, v, Duration.ofMillis(-1)));
        assertRejected(IllegalArgumentException.class, () -> store.putIfAbsent(k, v, Duration.ZERO));
        assertRejected(IllegalArgumentException.class, () -> store.putIfAbsent(k, v, Duration.ofSeconds(-5)));
        assertFailedStage(IllegalArgumentException.class, () -> store.putAsync(k, v, Duration.ZERO));
        assertFailedStage(IllegalArgumentException.class, () -> store.putIfAbsentAsync(k, v, Duration.ZERO));
        assertThat(store.get(k)).isNull();
    }

    @Test
    @DisplayName("A very long time to live is accepted (capped by the store, never overflowing into the past)")
    void hugeTtl() {
        String k = key("forever");
        store.put(k, bytes("v"), Duration.ofSeconds(Long.MAX_VALUE));
        ticker.advance(Duration.ofDays(365));
        assertThat(store.get(k)).isEqualTo(bytes("v"));
    }

    private static void assertRejected(Class<? extends Throwable> type, ThrowingCallable call) {
        assertThatThrownBy(call).isInstanceOf(type).hasMessageContaining("cache");
    }

    private static void assertFailedStage(Class<? extends Throwable> type, Supplier<CompletionStage<?>> call) {
        CompletionStage<?> stage = call.get();
        assertThatThrownBy(() -> stage.toCompletableFuture().join())
                .isInstanceOf(CompletionException.class).cause().isInstanceOf(type);
    }

    // ---------------------------------------------------------------- sizes and odd keys

    @Test
    @DisplayName("Large values (1 MB of every byte value) come back byte for byte")
    void largeValue() {
        byte[] big = new byte[1 << 20];
        new Random(42).nextBytes(big);
        String k = key("big");
        store.put(k, big, HOUR);
        assertThat(store.get(k)).isEqualTo(big);
        assertThat(join(store.getAsync(k))).isEqualTo(big);
    }

    @Test
    @DisplayName("Odd keys (braces, line breaks, NUL, Unicode, unpaired surrogates, 64 KB) work and never collide")
    void oddKeys() {
        StringBuilder longKey = new StringBuilder();
        while (longKey.length() < 65_536) {
            longKey.append("0123456789abcdef");
        }
        String sixtyFourK = longKey.toString();
        List<String> odd = List.of(
                "{tag}", "{", "}", "a{b}c", "line\nbreak", "line\r\nbreak", "\n", " ", "  ", "tab\there",
                "nul\u0000byte", "ключ", "鍵", "🔑 key", "\uD800", "\uDBFF", "\uDFFF\uD800", "*", "?", "[a-z]",
                "sluice:x", "sluice:{x}", "%s%n", "\\", "\"quoted\"", sixtyFourK, sixtyFourK + "x",
                sixtyFourK.substring(1) + "1");
        String prefix = key("odd");
        List<String> keys = new ArrayList<>();
        for (String o : odd) {
            keys.add(prefix + o);
            keys.add(o + prefix);
        }
        written.addAll(keys);
        for (int i = 0; i < keys.size(); i++) {
            store.put(keys.get(i), bytes("value-" + i), HOUR);
        }
        for (int i = 0; i < keys.size(); i++) {
            assertThat(store.get(keys.get(i))).as("key #%d", i).isEqualTo(bytes("value-" + i));
        }
        for (int i = 0; i < keys.size(); i += 2) {
            assertThat(store.remove(keys.get(i))).as("remove key #%d", i).isTrue();
        }
        for (int i = 0; i < keys.size(); i++) {
            byte[] expected = i % 2 == 0 ? null : bytes("value-" + i);
            assertThat(store.get(keys.get(i))).as("key #%d after removals", i).isEqualTo(expected);
        }
    }

    private static <T> @Nullable T join(CompletionStage<T> stage) {
        try {
            return stage.toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("async operation failed", e);
        }
    }
}

package dev.sluice.governor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.cache.CacheStore;
import dev.sluice.memory.MemoryCacheStore;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class SharedCooldownsTest {

    private final AtomicLong clock = new AtomicLong(1_800_000_000_000L);

    @Test
    @DisplayName("A cooldown set by one instance is seen by another on the same store, and ends on time")
    void sharedThroughTheStore() {
        CacheStore store = MemoryCacheStore.builder().build();
        SharedCooldowns a = new SharedCooldowns(store, clock::get);
        SharedCooldowns b = new SharedCooldowns(store, clock::get);
        a.coolDown("cooldown:openai:k1", Duration.ofSeconds(5));

        assertThat(a.remainingMillis("cooldown:openai:k1")).isEqualTo(5000);
        assertThat(b.remainingMillis("cooldown:openai:k1")).as("no I/O: not known yet").isZero();
        assertThat(b.remainingMillisAsync("cooldown:openai:k1").join()).isEqualTo(5000);
        assertThat(b.remainingMillis("cooldown:openai:k1")).as("learned").isEqualTo(5000);
        assertThat(b.remainingMillisAsync("cooldown:openai:k2").join()).isZero();

        clock.addAndGet(4000);
        assertThat(b.remainingMillis("cooldown:openai:k1")).isEqualTo(1000);
        clock.addAndGet(1000);
        assertThat(a.remainingMillis("cooldown:openai:k1")).isZero();
        assertThat(b.remainingMillis("cooldown:openai:k1")).isZero();
    }

    @Test
    @DisplayName("refresh reads other instances' cooldowns in; a longer cooldown is never shortened")
    void refreshAndLongest() {
        CacheStore store = MemoryCacheStore.builder().build();
        SharedCooldowns a = new SharedCooldowns(store, clock::get);
        SharedCooldowns b = new SharedCooldowns(store, clock::get);
        a.coolDown("x", Duration.ofSeconds(3));
        b.refresh(List.of("x", "y"));
        assertThat(b.remainingMillis("x")).isEqualTo(3000);
        assertThat(b.remainingMillis("y")).isZero();

        b.coolDown("x", Duration.ofMillis(500));
        assertThat(b.remainingMillis("x")).isEqualTo(3000);
        b.coolDown("x", Duration.ofSeconds(10));
        assertThat(b.remainingMillis("x")).isEqualTo(10_000);
        assertThat(a.remainingMillisAsync("x").join()).as("a knows its own 3 s").isEqualTo(3000);
        SharedCooldowns c = new SharedCooldowns(store, clock::get);
        assertThat(c.remainingMillisAsync("x").join()).as("the store holds the longer one").isEqualTo(10_000);
        assertThat(new SharedCooldowns(null, clock::get).remainingMillisAsync("x").join()).isZero();
    }

    @Test
    @DisplayName("A failing store fails no call: the local cooldown holds and unknown keys read as free")
    void failingStore() {
        AtomicInteger calls = new AtomicInteger();
        CacheStore broken = new BrokenStore(calls);
        SharedCooldowns s = new SharedCooldowns(broken, clock::get);
        s.coolDown("k", Duration.ofSeconds(2));
        assertThat(s.remainingMillis("k")).isEqualTo(2000);
        assertThat(s.remainingMillisAsync("other").join()).isZero();
        s.refresh(List.of("a", "b", "c"));
        assertThat(calls.get()).as("put, get, then refresh stops at its first error").isEqualTo(3);
    }

    @Test
    @DisplayName("The wait after a 429: Retry-After, else the named limit's reset, else the longer reset, else the default")
    void waitOf() {
        Duration dflt = Duration.ofSeconds(1);
        assertThat(SharedCooldowns.waitOf(signal(Duration.ofMillis(1500), Duration.ofSeconds(9), Duration.ofSeconds(8),
                ProviderSignal.Kind.TOKENS), dflt)).isEqualTo(Duration.ofMillis(1500));
        assertThat(SharedCooldowns.waitOf(signal(null, Duration.ofSeconds(9), Duration.ofSeconds(8),
                ProviderSignal.Kind.TOKENS), dflt)).isEqualTo(Duration.ofSeconds(8));
        assertThat(SharedCooldowns.waitOf(signal(Duration.ZERO, Duration.ofSeconds(9), Duration.ofSeconds(8),
                ProviderSignal.Kind.REQUESTS), dflt)).isEqualTo(Duration.ofSeconds(9));
        assertThat(SharedCooldowns.waitOf(signal(null, Duration.ofSeconds(2), Duration.ofSeconds(7),
                ProviderSignal.Kind.UNKNOWN), dflt)).isEqualTo(Duration.ofSeconds(7));
        assertThat(SharedCooldowns.waitOf(signal(null, null, Duration.ofSeconds(7),
                ProviderSignal.Kind.REQUESTS), dflt)).isEqualTo(Duration.ofSeconds(7));
        assertThat(SharedCooldowns.waitOf(signal(null, null, null, ProviderSignal.Kind.UNKNOWN), dflt))
                .isEqualTo(dflt);
    }

    @Test
    @DisplayName("Backoff is full jitter under an exponential bound that stops at the cap")
    void backoff() {
        Duration base = Duration.ofMillis(100);
        Duration cap = Duration.ofSeconds(2);
        long max1 = 0;
        long max3 = 0;
        long max30 = 0;
        for (int i = 0; i < 2000; i++) {
            long a1 = SharedCooldowns.backoffMicros(1, base, cap);
            long a3 = SharedCooldowns.backoffMicros(3, base, cap);
            long a30 = SharedCooldowns.backoffMicros(30, base, cap);
            assertThat(a1).isBetween(0L, 100_000L);
            assertThat(a3).isBetween(0L, 400_000L);
            assertThat(a30).isBetween(0L, 2_000_000L);
            max1 = Math.max(max1, a1);
            max3 = Math.max(max3, a3);
            max30 = Math.max(max30, a30);
        }
        // 2,000 uniform draws all in the lower half has probability 2^-2000: these bounds are reached in practice.
        assertThat(max1).isGreaterThan(50_000L);
        assertThat(max3).isGreaterThan(200_000L);
        assertThat(max30).isGreaterThan(1_000_000L);
    }

    private static ProviderSignal signal(@Nullable Duration retryAfter, @Nullable Duration resetRequests,
            @Nullable Duration resetTokens, ProviderSignal.Kind kind) {
        return new ProviderSignal(retryAfter, -1, -1, resetRequests, -1, -1, resetTokens, -1, -1, -1, -1, kind);
    }

    /** A store whose every operation fails, as an unreachable Redis would, counting the attempts. */
    private static final class BrokenStore implements CacheStore {
        private final AtomicInteger calls;

        BrokenStore(AtomicInteger calls) {
            this.calls = calls;
        }

        @Override
        public byte @Nullable [] get(String key) {
            calls.incrementAndGet();
            throw new IllegalStateException("store down");
        }

        @Override
        public void put(String key, byte[] value, Duration ttl) {
            calls.incrementAndGet();
            throw new IllegalStateException("store down");
        }

        @Override
        public boolean putIfAbsent(String key, byte[] value, Duration ttl) {
            throw new IllegalStateException("store down");
        }

        @Override
        public boolean remove(String key) {
            throw new IllegalStateException("store down");
        }
    }
}

package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.ManualTicker;
import java.time.Duration;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class MemoryCacheStoreTest {

    @Test
    void aByteBoundKeepsTheHeldBytesWithinIt() {
        MemoryCacheStore store = MemoryCacheStore.builder().maximumBytes(100_000).ticker(new ManualTicker()).build();
        for (int i = 0; i < 1_000; i++) {
            store.put("key-" + i, new byte[1_000], Duration.ofHours(1));
        }
        store.cleanUp();
        assertThat(store.bytes()).isPositive().isLessThanOrEqualTo(100_000);
        assertThat(store.size()).isLessThanOrEqualTo(100_000 / 1_000);
        assertThat(store.evictions()).isGreaterThanOrEqualTo(1_000 - 100);
    }

    @Test
    void bytesFollowReplacementsRemovalsAndExpiry() {
        ManualTicker ticker = new ManualTicker();
        MemoryCacheStore store = MemoryCacheStore.builder().ticker(ticker).build();
        store.put("a", new byte[100], Duration.ofSeconds(10));
        long one = store.bytes();
        assertThat(one).isEqualTo(2 + 100 + MemoryCacheStore.ENTRY_OVERHEAD);
        store.put("a", new byte[100], Duration.ofSeconds(10));
        store.cleanUp();
        assertThat(store.bytes()).isEqualTo(one);
        store.remove("a");
        store.cleanUp();
        assertThat(store.bytes()).isZero();
        store.put("b", new byte[10], Duration.ofSeconds(1));
        ticker.advance(Duration.ofSeconds(2));
        store.cleanUp();
        assertThat(store.bytes()).isZero();
        assertThat(store.evictions()).isEqualTo(1);
    }

    @Test
    @DisplayName("A conditional renewal or removal that does not match leaves the other holder's expiry as it was;"
            + " a matching renewal restarts it and keeps the byte count")
    void mismatchLeavesExpiry() {
        ManualTicker ticker = new ManualTicker();
        MemoryCacheStore store = MemoryCacheStore.builder().ticker(ticker).build();
        byte[] theirs = {2};
        store.put("k", theirs, Duration.ofSeconds(10));
        ticker.advance(Duration.ofSeconds(6));
        assertThat(store.renewIfEquals("k", new byte[] {1}, Duration.ofSeconds(10))).isFalse();
        assertThat(store.removeIfEquals("k", new byte[] {1})).isFalse();
        ticker.advance(Duration.ofSeconds(5));
        assertThat(store.get("k")).as("expired 10 s after its put").isNull();

        store.put("m", theirs, Duration.ofSeconds(10));
        long one = store.bytes();
        ticker.advance(Duration.ofSeconds(6));
        assertThat(store.renewIfEquals("m", theirs.clone(), Duration.ofSeconds(10))).isTrue();
        store.cleanUp();
        assertThat(store.bytes()).isEqualTo(one);
        ticker.advance(Duration.ofSeconds(5));
        assertThat(store.get("m")).as("renewed at 6 s for 10 s more").containsExactly(2);
    }
}

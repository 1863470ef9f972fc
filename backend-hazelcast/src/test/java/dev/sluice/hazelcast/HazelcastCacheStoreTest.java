package dev.sluice.hazelcast;

import static org.assertj.core.api.Assertions.assertThat;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.EntryProcessor;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** What the cache kit cannot see on a Hazelcast store: which forms wait for the cluster. */
class HazelcastCacheStoreTest {

    private static List<HazelcastInstance> members;

    @BeforeAll
    static void startCluster() {
        members = Members.start(2);
    }

    @AfterAll
    static void stopCluster() {
        members.forEach(HazelcastInstance::shutdown);
    }

    @Test
    void theAsynchronousConditionalFormsReturnBeforeTheKeysOwnerAnswers() throws Exception {
        HazelcastCacheStore store = HazelcastCacheStore.builder(members.get(0)).mapName("async-" + UUID.randomUUID())
                .build();
        String key = "llm:f:marker";
        byte[] marker = "in-flight 1".getBytes(StandardCharsets.US_ASCII);
        CountDownLatch held = new CountDownLatch(1);
        Hold.entered = held;
        Hold.release = new CountDownLatch(1);
        ExecutorService caller = Executors.newSingleThreadExecutor();
        try {
            // The key's partition thread is busy until released: a blocking call would wait for it.
            store.map().submitToKey(HazelcastCacheStore.mapKey(key), new Hold());
            assertThat(held.await(30, TimeUnit.SECONDS)).isTrue();
            CompletionStage<Boolean> put = caller.submit(() -> store.putIfAbsentAsync(key, marker,
                    Duration.ofHours(1))).get(30, TimeUnit.SECONDS);
            CompletionStage<Boolean> removed = caller.submit(() -> store.removeIfEqualsAsync(key, marker))
                    .get(30, TimeUnit.SECONDS);
            assertThat(put.toCompletableFuture()).as("answered while the owner was busy").isNotDone();
            assertThat(removed.toCompletableFuture()).isNotDone();
            Hold.release.countDown();
            assertThat(put.toCompletableFuture().get(30, TimeUnit.SECONDS)).isTrue();
            assertThat(removed.toCompletableFuture().get(30, TimeUnit.SECONDS)).isTrue();
            assertThat(store.get(key)).isNull();
        } finally {
            Hold.release.countDown();
            caller.shutdownNow();
        }
    }

    /** Occupies its key's partition thread until released (members run in this JVM, so the latches are shared). */
    static final class Hold implements EntryProcessor<String, byte[], @Nullable Object> {
        private static final long serialVersionUID = 1L;
        static volatile CountDownLatch entered = new CountDownLatch(0);
        static volatile CountDownLatch release = new CountDownLatch(0);

        @Override
        public @Nullable Object process(Map.Entry<String, byte[]> entry) {
            entered.countDown();
            try {
                release.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return null;
        }

        @Override
        public @Nullable EntryProcessor<String, byte[], @Nullable Object> getBackupProcessor() {
            return null;
        }
    }
}

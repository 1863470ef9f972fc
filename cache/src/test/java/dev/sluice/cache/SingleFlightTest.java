package dev.sluice.cache;

import static dev.sluice.cache.Fixtures.answer;
import static dev.sluice.cache.Fixtures.chat;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.memory.MemoryCacheStore;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The leader's marker and its followers, around store calls that are slow, fail, or race with other instances. */
class SingleFlightTest {

    private final MemoryCacheStore memory = MemoryCacheStore.builder().build();

    private static boolean isMarker(String key) {
        return key.contains(":f:");
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void completingAnAsyncCallNeverWaitsForAMarkerRenewalInTheStore() throws Exception {
        CountDownLatch renewing = new CountDownLatch(1);
        CountDownLatch storeAnswers = new CountDownLatch(1);
        ProbeStore probe = new ProbeStore(memory, (op, key) -> {
            if (op.equals("put") && isMarker(key)) {
                renewing.countDown();
                await(storeAnswers); // the renewal's round trip to a slow store
            }
        });
        ResponseCache cache = ResponseCache.builder(probe).inFlightTtl(Duration.ofMillis(30)).build();
        CompletableFuture<LlmResponse> provider = new CompletableFuture<>();
        CompletableFuture<CacheAnswer> call = cache.callAsync(chat("renewed"), () -> provider).toCompletableFuture();
        ExecutorService eventLoop = Executors.newSingleThreadExecutor();
        try {
            assertThat(renewing.await(30, TimeUnit.SECONDS)).isTrue();
            // The provider's answer completes on the event loop, which must come back while the renewal waits.
            eventLoop.submit(() -> provider.complete(answer("done"))).get(30, TimeUnit.SECONDS);
            assertThat(call).as("the marker is released only after the renewal").isNotDone();
            storeAnswers.countDown();
            assertThat(call.get(30, TimeUnit.SECONDS).response()).isEqualTo(answer("done"));
            assertThat(memory.snapshot().keySet()).noneMatch(SingleFlightTest::isMarker);
        } finally {
            storeAnswers.countDown();
            eventLoop.shutdownNow();
            cache.close();
        }
    }

    @Test
    void aFailedMarkerGoesUpstreamAloneWithoutRenewingRereadingOrReleasing() throws Exception {
        for (boolean async : new boolean[] {false, true}) {
            ProbeStore down = new ProbeStore(memory, (op, key) -> {
                throw new IllegalStateException("store down");
            });
            ResponseCache cache = ResponseCache.builder(down).build();
            CacheAnswer a = async
                    ? cache.callAsync(chat("q"), () -> CompletableFuture.completedFuture(answer("ok")))
                            .toCompletableFuture().get(30, TimeUnit.SECONDS)
                    : cache.call(chat("q"), () -> answer("ok"));
            assertThat(a.response()).isEqualTo(answer("ok"));
            assertThat(a.source()).isEqualTo(CacheAnswer.Source.MISS);
            // the lookup, the marker attempt and the attempt to store the answer: nothing else
            assertThat(down.calls("get")).as("async %s", async).isEqualTo(1);
            assertThat(down.calls("putIfAbsent")).as("async %s", async).isEqualTo(1);
            assertThat(down.calls("put")).as("async %s", async).isEqualTo(1);
            assertThat(down.calls()).as("async %s", async).isEqualTo(3);
            assertThat(cache.stats().errors()).as("async %s", async).isEqualTo(3);
            cache.close();
        }
    }
}

package dev.sluice.cache;

import static dev.sluice.cache.Fixtures.answer;
import static dev.sluice.cache.Fixtures.chat;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.cache.CacheAnswer.Source;
import dev.sluice.cache.Fixtures.CountingUpstream;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.memory.MemoryBackend;
import dev.sluice.memory.MemoryCacheStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

class ResponseCacheTest {

    private final MemoryCacheStore store = MemoryCacheStore.builder().build();
    private final ResponseCache cache = ResponseCache.builder(store).build();

    @Test
    void aRepeatedDeterministicRequestIsAnsweredFromTheStore() throws Exception {
        CountingUpstream upstream = new CountingUpstream(answer("Paris"), 0);
        CacheAnswer first = cache.call(chat("capital of France?"), upstream);
        CacheAnswer second = cache.call(chat("capital of France?"), upstream);
        assertThat(first.source()).isEqualTo(Source.MISS);
        assertThat(second.source()).isEqualTo(Source.HIT);
        assertThat(second.response()).isEqualTo(answer("Paris"));
        assertThat(upstream.calls).hasValue(1);
        assertThat(cache.stats().hits()).isEqualTo(1);
        assertThat(cache.stats().stores()).isEqualTo(1);
    }

    @Test
    void aHitConsumesNoQuota() throws Exception {
        // One request per minute: the upstream acquires it; a hit must not need another.
        SluiceLimiter limiter = SluiceLimiter.builder(MemoryBackend.create())
                .policy(Policy.of(Limit.of("requests", 1, Duration.ofMinutes(1), Algorithm.FIXED_WINDOW))).build();
        AtomicInteger denied = new AtomicInteger();
        Upstream limited = () -> {
            Decision d = limiter.tryAcquire("tenant", Cost.request());
            if (!d.granted()) {
                denied.incrementAndGet();
                return LlmResponse.json(429, "{\"error\":{\"message\":\"rate limited\"}}");
            }
            return answer("42");
        };
        assertThat(cache.call(chat("meaning of life?"), limited).source()).isEqualTo(Source.MISS);
        for (int i = 0; i < 5; i++) {
            CacheAnswer a = cache.call(chat("meaning of life?"), limited);
            assertThat(a.source()).isEqualTo(Source.HIT);
            assertThat(a.response()).isEqualTo(answer("42"));
        }
        assertThat(denied).hasValue(0);
        // the quota is spent by the first call only: a new question is limited
        assertThat(cache.call(chat("another question"), limited).response().status()).isEqualTo(429);
        limiter.close();
    }

    @Test
    void nonDeterministicRequestsAreNotCachedUnlessTheCallerOptsIn() throws Exception {
        CountingUpstream upstream = new CountingUpstream(answer("a poem"), 0);
        CacheRequest warm = chat("sk-test-key", "write a poem", 0.7);
        assertThat(cache.call(warm, upstream).source()).isEqualTo(Source.BYPASSED);
        assertThat(cache.call(warm, upstream).source()).isEqualTo(Source.BYPASSED);
        assertThat(upstream.calls).hasValue(2);
        CacheRequest optIn = warm.withOptions(CallOptions.optingIn());
        assertThat(cache.call(optIn, upstream).source()).isEqualTo(Source.MISS);
        assertThat(cache.call(optIn, upstream).source()).isEqualTo(Source.HIT);
        assertThat(upstream.calls).hasValue(3);
        CacheRequest seeded = CacheRequest.builder().credential("k").baseUrl(Fixtures.BASE)
                .body("{\"model\":\"m\",\"temperature\":1,\"seed\":7}").build();
        cache.call(seeded, upstream);
        assertThat(cache.call(seeded, upstream).source()).isEqualTo(Source.HIT);
    }

    @Test
    void bypassSkipsTheCacheAndRefreshReplacesTheEntry() throws Exception {
        cache.call(chat("q"), () -> answer("old"));
        CacheAnswer bypassed = cache.call(chat("q").withOptions(CallOptions.bypassing()), () -> answer("direct"));
        assertThat(bypassed.source()).isEqualTo(Source.BYPASSED);
        assertThat(bypassed.response()).isEqualTo(answer("direct"));
        assertThat(cache.call(chat("q"), () -> answer("never")).response()).isEqualTo(answer("old"));
        CacheAnswer refreshed = cache.call(chat("q").withOptions(CallOptions.refreshing()), () -> answer("new"));
        assertThat(refreshed.source()).isEqualTo(Source.REFRESHED);
        assertThat(cache.call(chat("q"), () -> answer("never")).response()).isEqualTo(answer("new"));
        assertThat(cache.stats().refreshes()).isEqualTo(1);
    }

    @Test
    void errorsRateLimitsTruncatedAndPartialAnswersAreNeverStored() throws Exception {
        List<LlmResponse> refused = List.of(
                LlmResponse.json(429, "{\"error\":{\"message\":\"slow down\"}}"),
                LlmResponse.json(500, "{\"error\":{\"message\":\"oops\"}}"),
                LlmResponse.json(200, "{\"error\":{\"message\":\"in a 200\"}}"),
                answer("cut", "length"),
                answer("filtered", "content_filter"),
                LlmResponse.json(200, "{\"choices\":[{\"message\":{\"content\":\"half\"},\"finish_reason\":null}]}"),
                LlmResponse.json(200, "{\"choices\":[{\"message\":{\"content\":\"half\"},\"finish_reason\":\"stop\"}"),
                new LlmResponse(200, "text/event-stream", "data: {}\n\n".getBytes()));
        for (int i = 0; i < refused.size(); i++) {
            LlmResponse r = refused.get(i);
            CountingUpstream upstream = new CountingUpstream(r, 0);
            cache.call(chat("refused " + i), upstream);
            CacheAnswer again = cache.call(chat("refused " + i), upstream);
            assertThat(again.source()).as("%s", r.bodyText()).isEqualTo(Source.MISS);
            assertThat(upstream.calls).as("%s", r.bodyText()).hasValue(2);
        }
        assertThat(cache.stats().stores()).isZero();
        assertThat(cache.stats().notStored()).isEqualTo(2L * refused.size());
    }

    @Test
    void twoTenantsWithTheSamePromptNeverShareEntries() throws Exception {
        CacheRequest alice = chat("sk-alice", "same prompt", 0);
        CacheRequest bob = chat("sk-bob", "same prompt", 0);
        assertThat(cache.call(alice, () -> answer("for alice")).source()).isEqualTo(Source.MISS);
        CacheAnswer b = cache.call(bob, () -> answer("for bob"));
        assertThat(b.source()).isEqualTo(Source.MISS);
        assertThat(b.response()).isEqualTo(answer("for bob"));
        assertThat(cache.call(alice, () -> answer("x")).response()).isEqualTo(answer("for alice"));
        assertThat(cache.call(bob, () -> answer("x")).response()).isEqualTo(answer("for bob"));
        assertThat(cache.key(alice)).isNotEqualTo(cache.key(bob));
    }

    @Test
    void sixtyFourConcurrentIdenticalColdRequestsMakeOneUpstreamCall() throws Exception {
        CountingUpstream upstream = new CountingUpstream(answer("slow answer"), 300);
        List<CacheAnswer> answers = Fixtures.concurrently(64, i -> cache.call(chat("cold"), upstream));
        assertThat(upstream.calls).hasValue(1);
        assertThat(answers).allSatisfy(a -> assertThat(a.response()).isEqualTo(answer("slow answer")));
        assertThat(answers).filteredOn(a -> a.source().calledUpstream()).hasSize(1);
    }

    @Test
    void sixtyFourConcurrentIdenticalColdAsyncRequestsMakeOneUpstreamCall() throws Exception {
        CountingUpstream upstream = new CountingUpstream(answer("slow answer"), 300);
        List<CacheAnswer> answers = Fixtures.concurrently(64, i -> cache.callAsync(chat("cold async"),
                upstream.async()).toCompletableFuture().get(30, TimeUnit.SECONDS));
        assertThat(upstream.calls).hasValue(1);
        assertThat(answers).allSatisfy(a -> assertThat(a.response()).isEqualTo(answer("slow answer")));
        assertThat(answers).filteredOn(a -> a.source().calledUpstream()).hasSize(1);
    }

    @Test
    void coalescedCallersShareTheLeadersExceptionAndNothingIsStored() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        Upstream failing = () -> {
            calls.incrementAndGet();
            // fail once the 15 others have missed too, and so join this call (a caller arriving after the failure
            // would call again)
            for (int i = 0; i < 1000 && cache.stats().misses() < 16; i++) {
                Thread.sleep(10);
            }
            Thread.sleep(100);
            throw new IOException("provider unreachable");
        };
        List<Throwable> failures = Fixtures.concurrently(16, i -> {
            try {
                cache.call(chat("fails"), failing);
                return null;
            } catch (IOException e) {
                return e;
            }
        });
        assertThat(calls).hasValue(1);
        assertThat(failures).allSatisfy(t -> assertThat(t).isInstanceOf(IOException.class)
                .hasMessage("provider unreachable"));
        assertThat(cache.call(chat("fails"), () -> answer("recovered")).source()).isEqualTo(Source.MISS);
    }

    @Test
    void aCrashedLeadersMarkerExpiresAndAFollowerTakesTheLead() throws Exception {
        ManualTicker ticker = new ManualTicker();
        MemoryCacheStore manual = MemoryCacheStore.builder().ticker(ticker).build();
        ResponseCache c = ResponseCache.builder(manual).inFlightTtl(Duration.ofSeconds(5))
                .maxWait(Duration.ofHours(1)).build();
        CacheRequest r = chat("orphaned");
        // another instance put its marker and died
        manual.putIfAbsent("llm:f:" + c.key(r), "in-flight dead".getBytes(), Duration.ofSeconds(5));
        CountingUpstream upstream = new CountingUpstream(answer("taken over"), 0);
        CompletableFuture<CacheAnswer> follower = CompletableFuture.supplyAsync(() -> {
            try {
                return c.call(r, upstream);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        // the follower polls and waits while the marker lives
        assertThat(follower).isNotDone();
        assertThat(upstream.calls).hasValue(0);
        ticker.advance(Duration.ofSeconds(6));
        CacheAnswer a = follower.get(30, TimeUnit.SECONDS);
        assertThat(a.source()).isEqualTo(Source.MISS);
        assertThat(upstream.calls).hasValue(1);
        assertThat(c.stats().waitTimeouts()).isZero();
    }

    @Test
    void aFollowerStopsWaitingAfterMaxWait() throws Exception {
        ResponseCache c = ResponseCache.builder(store).maxWait(Duration.ofMillis(50))
                .pollInterval(Duration.ofMillis(5), Duration.ofMillis(20)).build();
        CacheRequest r = chat("stuck");
        store.putIfAbsent("llm:f:" + c.key(r), "in-flight slow".getBytes(), Duration.ofHours(1));
        assertThat(c.call(r, () -> answer("alone")).source()).isEqualTo(Source.MISS);
        assertThat(c.stats().waitTimeouts()).isEqualTo(1);
        assertThat(c.callAsync(chat("stuck"), () -> CompletableFuture.completedFuture(answer("x")))
                .toCompletableFuture().get(10, TimeUnit.SECONDS).source()).isEqualTo(Source.HIT);
    }

    @Test
    void theNearCacheAnswersWithoutTheStore() throws Exception {
        ResponseCache c = ResponseCache.builder(store).name("near").nearCache(1 << 20, Duration.ofSeconds(30)).build();
        c.call(chat("hot"), () -> answer("hot answer"));
        store.close(); // the shared entry is gone: only the near cache can answer
        CacheAnswer a = c.call(chat("hot"), () -> answer("never"));
        assertThat(a.source()).isEqualTo(Source.NEAR_HIT);
        assertThat(a.response()).isEqualTo(answer("hot answer"));
        assertThat(c.stats().nearBytes()).isPositive();
        c.invalidate(chat("hot"));
        assertThat(c.call(chat("hot"), () -> answer("fresh")).source()).isEqualTo(Source.MISS);
    }

    @Test
    void aFailingStoreNeverFailsACall() throws Exception {
        ResponseCache c = ResponseCache.builder(new BrokenStore()).build();
        CountingUpstream upstream = new CountingUpstream(answer("ok"), 0);
        assertThat(c.call(chat("q"), upstream).response()).isEqualTo(answer("ok"));
        assertThat(c.callAsync(chat("q"), upstream.async()).toCompletableFuture().get(10, TimeUnit.SECONDS)
                .response()).isEqualTo(answer("ok"));
        assertThat(upstream.calls).hasValue(2);
        assertThat(c.stats().errors()).isPositive();
    }

    @Test
    void asyncCallsHitMissAndRefreshLikeBlockingOnes() throws Exception {
        CountingUpstream upstream = new CountingUpstream(answer("async"), 0);
        assertThat(cache.callAsync(chat("a"), upstream.async()).toCompletableFuture().get(10, TimeUnit.SECONDS)
                .source()).isEqualTo(Source.MISS);
        assertThat(cache.callAsync(chat("a"), upstream.async()).toCompletableFuture().get(10, TimeUnit.SECONDS)
                .source()).isEqualTo(Source.HIT);
        assertThat(cache.callAsync(chat("a").withOptions(CallOptions.refreshing()), upstream.async())
                .toCompletableFuture().get(10, TimeUnit.SECONDS).source()).isEqualTo(Source.REFRESHED);
        assertThat(upstream.calls).hasValue(2);
        CompletableFuture<CacheAnswer> failed = cache.callAsync(chat("boom"),
                () -> CompletableFuture.failedFuture(new IOException("down"))).toCompletableFuture();
        assertThatThrownBy(() -> failed.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(IOException.class);
    }

    @Test
    void metricsCountHitsMissesCoalescedStoresAndBytes() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        new CacheMetrics(cache).bindTo(registry);
        cache.call(chat("m"), () -> answer("v"));
        cache.call(chat("m"), () -> answer("v"));
        cache.call(chat("sk-test-key", "m", 0.9), () -> answer("v"));
        cache.call(chat("n"), () -> LlmResponse.json(429, "{}"));
        assertThat(registry.get(CacheMetricNames.HITS).tag("level", "shared").functionCounter().count()).isEqualTo(1);
        assertThat(registry.get(CacheMetricNames.MISSES).functionCounter().count()).isEqualTo(2);
        assertThat(registry.get(CacheMetricNames.STORES).functionCounter().count()).isEqualTo(1);
        assertThat(registry.get(CacheMetricNames.STORED_BYTES).functionCounter().count()).isPositive();
        assertThat(registry.get(CacheMetricNames.BYPASSED).tag("reason", "policy").functionCounter().count())
                .isEqualTo(1);
        assertThat(registry.get(CacheMetricNames.NOT_STORED).tag("reason", "rate_limited").functionCounter().count())
                .isEqualTo(1);
        assertThat(registry.get(CacheMetricNames.COALESCED).tag("scope", "local").functionCounter().count()).isZero();
        assertThat(registry.get(CacheMetricNames.STORE_BYTES).gauge().value()).as("the Caffeine store's bytes")
                .isPositive();
        assertThat(registry.get(CacheMetricNames.EVICTIONS).tag("level", "shared").functionCounter().count())
                .isZero();
        assertThat(registry.getMeters()).allSatisfy(m -> assertThat(m.getId().getName()).startsWith("sluice.cache."));
        assertThat(registry.getMeters()).allSatisfy(m -> assertThat(m.getId().getTags().toString())
                .doesNotContain("sk-test-key").doesNotContain("gpt-4o-mini"));
    }

    @Test
    void ttlPerModelAndRoute() throws Exception {
        ManualTicker ticker = new ManualTicker();
        MemoryCacheStore manual = MemoryCacheStore.builder().ticker(ticker).build();
        ResponseCache c = ResponseCache.builder(manual).policy(CachePolicy.builder()
                .defaultTtl(Duration.ofHours(1))
                .ttlForModel("gpt-4o-mini", Duration.ofMinutes(1))
                .ttlForModel("never-cached", Duration.ZERO).build()).build();
        c.call(chat("t"), () -> answer("v"));
        ticker.advance(Duration.ofSeconds(59));
        assertThat(c.call(chat("t"), () -> answer("w")).source()).isEqualTo(Source.HIT);
        ticker.advance(Duration.ofSeconds(2));
        assertThat(c.call(chat("t"), () -> answer("w")).source()).isEqualTo(Source.MISS);
        CacheRequest off = CacheRequest.builder().credential("k").baseUrl(Fixtures.BASE)
                .body("{\"model\":\"never-cached\",\"temperature\":0}").build();
        c.call(off, () -> answer("v"));
        assertThat(c.call(off, () -> answer("v")).source()).isEqualTo(Source.BYPASSED);
    }

    /** A store whose every operation fails, as an unreachable server's would. */
    private static final class BrokenStore implements CacheStore {
        @Override
        public byte @Nullable [] get(String key) {
            throw new IllegalStateException("store down");
        }

        @Override
        public void put(String key, byte[] value, Duration ttl) {
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

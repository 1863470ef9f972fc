package dev.sluice.cache;

import static dev.sluice.cache.Fixtures.answer;
import static dev.sluice.cache.Fixtures.chat;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.cache.CacheAnswer.Source;
import dev.sluice.cache.Fixtures.CountingUpstream;
import dev.sluice.redis.RedisCacheStore;
import dev.sluice.testkit.redis.RedisExtension;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.redisson.Redisson;
import org.redisson.api.RBucket;
import org.redisson.api.RedissonClient;
import org.redisson.client.codec.ByteArrayCodec;
import org.redisson.config.Config;

/**
 * Three instances (three caches, each on its own Redisson client) sharing one private Redis: single-flight across
 * them, tenant separation, and no credential anywhere in Redis.
 */
class SharedRedisCacheTest {

    @RegisterExtension
    static final RedisExtension REDIS = new RedisExtension();

    private static final AtomicInteger NAMESPACES = new AtomicInteger();
    private static final List<RedissonClient> CLIENTS = new ArrayList<>();

    @BeforeAll
    static void connect() {
        for (int i = 0; i < 3; i++) {
            Config config = new Config();
            config.useSingleServer().setAddress(REDIS.endpoint().uri());
            CLIENTS.add(Redisson.create(config));
        }
    }

    @AfterAll
    static void disconnect() {
        CLIENTS.forEach(RedissonClient::shutdown);
        CLIENTS.clear();
    }

    /** Three instances: one cache per client, all on one namespace of their own. */
    private static List<ResponseCache> instances() {
        return instances(b -> b);
    }

    private static List<ResponseCache> instances(java.util.function.UnaryOperator<ResponseCache.Builder> settings) {
        String namespace = "shared" + NAMESPACES.incrementAndGet();
        List<ResponseCache> caches = new ArrayList<>();
        for (RedissonClient client : CLIENTS) {
            caches.add(settings.apply(ResponseCache.builder(RedisCacheStore.builder(client).namespace(namespace)
                    .build())).build());
        }
        return caches;
    }

    @Test
    void aCrashedInstancesMarkerExpiresInRedisAndAnotherInstanceTakesOver() throws Exception {
        String namespace = "crashed" + NAMESPACES.incrementAndGet();
        RedisCacheStore store = RedisCacheStore.builder(CLIENTS.get(0)).namespace(namespace).build();
        ResponseCache survivor = ResponseCache.builder(RedisCacheStore.builder(CLIENTS.get(1)).namespace(namespace)
                .build()).maxWait(Duration.ofMinutes(5)).build();
        CacheRequest r = chat("orphaned");
        // an instance took the lead with a 500 ms marker and died before answering
        assertThat(store.putIfAbsent("llm:f:" + survivor.key(r), "in-flight dead".getBytes(StandardCharsets.UTF_8),
                Duration.ofMillis(500))).isTrue();
        CountingUpstream upstream = new CountingUpstream(answer("taken over"), 0);
        CacheAnswer a = survivor.call(r, upstream);
        assertThat(a.source()).isEqualTo(Source.MISS);
        assertThat(upstream.calls).hasValue(1);
        assertThat(survivor.stats().waitTimeouts()).as("taken over at expiry, not after maxWait").isZero();
    }

    @Test
    void aLeaderRenewsItsMarkerSoACallLongerThanTheMarkersTtlIsNotDuplicated() throws Exception {
        // renewed every 2/3 s: a pause of a second on a loaded machine still finds the marker alive
        List<ResponseCache> caches = instances(b -> b.inFlightTtl(Duration.ofSeconds(2)));
        CountingUpstream upstream = new CountingUpstream(answer("slow"), 4500);
        List<CacheAnswer> answers = Fixtures.concurrently(6, i -> caches.get(i % 3).call(chat("long call"), upstream));
        assertThat(upstream.calls).as("the marker outlived its 2 s TTL while the 4.5 s call ran").hasValue(1);
        assertThat(answers).allSatisfy(a -> assertThat(a.response()).isEqualTo(answer("slow")));
        caches.forEach(ResponseCache::close);
    }

    @Test
    void whenTheLeaderFailsAFollowerOnAnotherInstanceTakesTheLead() throws Exception {
        List<ResponseCache> caches = instances();
        AtomicInteger calls = new AtomicInteger();
        Upstream failsFirst = () -> {
            int n = calls.incrementAndGet();
            Thread.sleep(300);
            if (n == 1) {
                throw new java.io.IOException("leader's provider call failed");
            }
            return answer("second try");
        };
        List<Object> outcomes = Fixtures.concurrently(2, i -> {
            try {
                return caches.get(i).call(chat("flaky"), failsFirst);
            } catch (java.io.IOException e) {
                return e;
            }
        });
        assertThat(calls).hasValue(2);
        assertThat(outcomes).filteredOn(o -> o instanceof java.io.IOException).hasSize(1);
        assertThat(outcomes).filteredOn(o -> o instanceof CacheAnswer a && a.response().equals(answer("second try")))
                .hasSize(1);
    }

    @Test
    void sixtyFourConcurrentIdenticalColdRequestsOnThreeInstancesMakeOneUpstreamCall() throws Exception {
        List<ResponseCache> caches = instances();
        CountingUpstream upstream = new CountingUpstream(answer("one answer"), 300);
        List<CacheAnswer> answers = Fixtures.concurrently(64, i -> caches.get(i % 3).call(chat("cold"), upstream));
        assertThat(upstream.calls).hasValue(1);
        assertThat(answers).allSatisfy(a -> assertThat(a.response()).isEqualTo(answer("one answer")));
        assertThat(answers).filteredOn(a -> a.source() == Source.MISS).hasSize(1);
        long shared = caches.stream().mapToLong(c -> c.stats().coalescedShared()).sum();
        assertThat(shared).as("the two other instances got the answer through Redis").isPositive();
    }

    @Test
    void sixtyFourConcurrentIdenticalColdAsyncRequestsOnThreeInstancesMakeOneUpstreamCall() throws Exception {
        List<ResponseCache> caches = instances();
        CountingUpstream upstream = new CountingUpstream(answer("one answer"), 300);
        List<CacheAnswer> answers = Fixtures.concurrently(64, i -> caches.get(i % 3)
                .callAsync(chat("cold async"), upstream.async()).toCompletableFuture().get(30, TimeUnit.SECONDS));
        assertThat(upstream.calls).hasValue(1);
        assertThat(answers).allSatisfy(a -> assertThat(a.response()).isEqualTo(answer("one answer")));
        assertThat(answers).filteredOn(a -> a.source() == Source.MISS).hasSize(1);
    }

    @Test
    void twoTenantsWithTheSamePromptNeverSeeEachOthersEntriesAcrossInstances() throws Exception {
        List<ResponseCache> caches = instances();
        caches.get(0).call(chat("sk-alice", "same", 0), () -> answer("alice's"));
        CacheAnswer bob = caches.get(1).call(chat("sk-bob", "same", 0), () -> answer("bob's"));
        assertThat(bob.source()).isEqualTo(Source.MISS);
        assertThat(caches.get(2).call(chat("sk-alice", "same", 0), () -> answer("x")).response())
                .isEqualTo(answer("alice's"));
        assertThat(caches.get(2).call(chat("sk-bob", "same", 0), () -> answer("x")).response())
                .isEqualTo(answer("bob's"));
    }

    @Test
    void noCredentialInAnyRedisKeyOrValue() throws Exception {
        String canary = "sk-canary-" + Long.toHexString(System.nanoTime()) + "-do-not-store";
        List<ResponseCache> caches = instances();
        for (int i = 0; i < 20; i++) {
            ResponseCache c = caches.get(i % 3);
            c.call(chat(canary, "question " + i, 0), () -> answer("answer"));
            c.call(chat(canary, "question " + i, 0), () -> answer("answer"));
            c.callAsync(chat(canary, "async " + i, 0), () -> java.util.concurrent.CompletableFuture
                    .completedFuture(answer("answer"))).toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
        caches.get(0).call(chat(canary, "question 0", 0).withOptions(CallOptions.refreshing()), () -> answer("new"));
        RedissonClient client = CLIENTS.get(0);
        List<String> keys = new ArrayList<>();
        client.getKeys().getKeys().forEach(keys::add);
        assertThat(keys).hasSizeGreaterThanOrEqualTo(40);
        byte[] canaryBytes = canary.getBytes(StandardCharsets.UTF_8);
        byte[] canaryUtf16 = canary.getBytes(StandardCharsets.UTF_16BE);
        for (String key : keys) {
            assertThat(key).doesNotContain(canary).doesNotContain("canary");
            RBucket<byte[]> bucket = client.getBucket(key, ByteArrayCodec.INSTANCE);
            byte[] value = bucket.get();
            if (value == null) {
                continue; // expired meanwhile
            }
            assertThat(contains(value, canaryBytes)).as("value of %s holds the credential", key).isFalse();
            assertThat(contains(value, canaryUtf16)).as("value of %s holds the credential", key).isFalse();
            assertThat(new String(value, StandardCharsets.ISO_8859_1)).doesNotContain("canary");
            long ttl = bucket.remainTimeToLive();
            assertThat(ttl).as("every key expires: %s", key).isPositive();
        }
    }

    static boolean contains(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }
}

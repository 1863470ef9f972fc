package dev.sluice.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.testkit.redis.RedisExtension;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.redisson.api.RedissonClient;
import org.redisson.api.options.KeysScanOptions;

/** What the Redis cache store leaves in Redis: namespaced, fixed-length hashed keys, each with its expiry. */
class RedisCacheStoreTest {

    @RegisterExtension
    static final RedisExtension REDIS = new RedisExtension();

    private static RedissonClient client;

    @BeforeAll
    static void connect() {
        client = Clients.connect(REDIS.endpoint());
    }

    @AfterAll
    static void disconnect() {
        client.shutdown();
    }

    @Test
    void keysAreNamespacedHashedAndExpire() {
        RedisCacheStore store = RedisCacheStore.builder(client).namespace("hygiene").build();
        List<String> callerKeys = List.of("plain", "{tag}", "line\nbreak", "secret-looking sk-123", "x".repeat(65_536));
        for (String k : callerKeys) {
            store.put(k, "v".getBytes(StandardCharsets.UTF_8), Duration.ofMinutes(5));
        }
        List<String> keys = new ArrayList<>();
        client.getKeys().getKeys(KeysScanOptions.defaults().pattern("hygiene:*")).forEach(keys::add);
        assertThat(keys).hasSize(callerKeys.size());
        for (String key : keys) {
            assertThat(key).matches("hygiene:c:[A-Za-z0-9_-]{43}");
            long pttl = client.getBucket(key).remainTimeToLive();
            assertThat(pttl).isPositive().isLessThanOrEqualTo(Duration.ofMinutes(5).toMillis());
        }
        assertThat(store.redisKey("{tag}")).isEqualTo(store.redisKey("{tag}")).isNotEqualTo(store.redisKey("{tag} "));
        for (String k : callerKeys) {
            assertThat(store.remove(k)).isTrue();
        }
    }

    @Test
    void namespacesAreSeparate() {
        RedisCacheStore a = RedisCacheStore.builder(client).namespace("ns-a").build();
        RedisCacheStore b = RedisCacheStore.builder(client).namespace("ns-b").build();
        a.put("k", new byte[] {1}, Duration.ofMinutes(1));
        assertThat(b.get("k")).isNull();
        assertThat(a.remove("k")).isTrue();
        assertThatThrownBy(() -> RedisCacheStore.builder(client).namespace("bad namespace"))
                .isInstanceOf(IllegalArgumentException.class);
    }
}

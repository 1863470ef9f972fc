package dev.sluice.redis;

import dev.sluice.api.ManualTicker;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.testkit.CacheCompatibilityKit;
import dev.sluice.testkit.redis.RedisExtension;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.redisson.api.RedissonClient;

/** The cache kit on a real Redis; Redis keeps its own time, so expiry is checked in real time. */
class RedisCacheCompatibilityTest extends CacheCompatibilityKit {

    @RegisterExtension
    static final RedisExtension REDIS = new RedisExtension();

    private static final AtomicInteger NAMESPACES = new AtomicInteger();
    private static RedissonClient client;

    @BeforeAll
    static void connect() {
        client = Clients.connect(REDIS.endpoint());
    }

    @AfterAll
    static void disconnect() {
        client.shutdown();
    }

    @Override
    protected CacheStore createStore(ManualTicker ticker) {
        return RedisCacheStore.builder(client).namespace("cache" + NAMESPACES.incrementAndGet()).build();
    }
}

package dev.sluice.redis;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.inject.Guice;
import com.google.inject.Injector;
import dev.sluice.api.Cost;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.api.RateLimiter;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.core.LimiterModule;
import dev.sluice.testkit.redis.RedisExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.redisson.api.RedissonClient;

/** The Guice wiring: the application binds its Redisson client, Sluice's modules bind the rest. */
class RedisGuiceTest {

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
    @DisplayName("RedisBackendModule + LimiterModule give one RateLimiter on Redis, configured by the module")
    void wiring() {
        Injector injector = Guice.createInjector(
                binder -> binder.bind(RedissonClient.class).toInstance(client),
                new RedisBackendModule(b -> b.namespace("guice")),
                new LimiterModule("guice", Policy.of(Limit.perMinute("requests", 3))));
        RateLimiter limiter = injector.getInstance(RateLimiter.class);
        assertThat(injector.getInstance(RateLimiter.class)).isSameAs(limiter);
        RedisBackend backend = (RedisBackend) injector.getInstance(LimiterBackend.class);
        assertThat(backend.redisKey("t")).isEqualTo("guice:{k:t}");
        for (int i = 0; i < 3; i++) {
            assertThat(limiter.tryAcquire("t", Cost.request()).granted()).isTrue();
        }
        assertThat(limiter.tryAcquire("t", Cost.request()).granted()).isFalse();
        assertThat(client.getKeys().countExists("guice:{k:t}")).isEqualTo(1);
    }
}

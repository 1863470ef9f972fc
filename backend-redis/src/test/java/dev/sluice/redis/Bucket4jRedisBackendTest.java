package dev.sluice.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.testkit.redis.RedisExtension;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.redisson.api.RedissonClient;

/** Token-bucket policies on Bucket4j's Redisson engine, behind Sluice's API, against a real Redis. */
class Bucket4jRedisBackendTest {

    @RegisterExtension
    static final RedisExtension REDIS = new RedisExtension();

    private static final AtomicInteger NAMESPACES = new AtomicInteger();
    private static RedissonClient first;
    private static RedissonClient second;

    @BeforeAll
    static void connect() {
        first = client();
        second = client();
    }

    @AfterAll
    static void disconnect() {
        first.shutdown();
        second.shutdown();
    }

    private static RedissonClient client() {
        return Clients.connect(REDIS.endpoint());
    }

    private final ManualTicker ticker = new ManualTicker(1_000_000_000_000L);
    private final String namespace = "b4j" + NAMESPACES.incrementAndGet();

    private SluiceLimiter limiter(RedissonClient client, Policy policy) {
        return SluiceLimiter.builder(Bucket4jRedisBackend.create(client, namespace, ticker)).policy(policy).build();
    }

    @Test
    @DisplayName("10/s: 10 grants, then a wait of 100 ms (+1 µs rounding), then a grant")
    void burstThenRefill() {
        Limit limit = Limit.perSecond("requests", 10);
        SluiceLimiter l = limiter(first, Policy.of(limit));
        for (int i = 0; i < 10; i++) {
            assertThat(l.tryAcquire("k", Cost.request()).remaining(limit)).isEqualTo(9 - i);
        }
        Decision d = l.tryAcquire("k", Cost.request());
        assertThat(d.reason()).isEqualTo(Decision.Reason.RATE_LIMITED);
        assertThat(d.retryAfterMicros()).isBetween(100_000L, 100_001L);
        ticker.advanceMicros(d.retryAfterMicros());
        assertThat(l.tryAcquire("k", Cost.request()).granted()).isTrue();
    }

    @Test
    @DisplayName("Two clients share one bucket per limit")
    void clientsShareBuckets() {
        Policy policy = Policy.of(Limit.perMinute("requests", 6));
        SluiceLimiter a = limiter(first, policy);
        SluiceLimiter b = limiter(second, policy);
        int granted = 0;
        for (int i = 0; i < 10; i++) {
            granted += (i % 2 == 0 ? a : b).tryAcquire("shared", Cost.request()).granted() ? 1 : 0;
        }
        assertThat(granted).isEqualTo(6);
    }

    @Test
    @DisplayName("Several limits: when tokens deny, requests are given back; refunds restore")
    void allOrNothingAndRefund() {
        Limit requests = Limit.perMinute("requests", 5);
        Limit tokens = Limit.perMinute("tokens", 100);
        SluiceLimiter l = limiter(first, Policy.of(requests, tokens));
        assertThat(l.tryAcquire("k", Cost.request().and("tokens", 80)).granted()).isTrue();
        Decision denied = l.tryAcquire("k", Cost.request().and("tokens", 30));
        assertThat(denied.granted()).isFalse();
        assertThat(denied.boundBy()).isEqualTo(tokens);
        assertThat(denied.remaining(requests)).isEqualTo(4);
        assertThat(l.refund("k", Cost.tokens(50)).remaining(tokens)).isEqualTo(70);
    }

    @Test
    @DisplayName("Other algorithms are refused, naming the limit")
    void tokenBucketOnly() {
        SluiceLimiter l = limiter(first, Policy.of(Limit.of("requests", 5, Duration.ofMinutes(1), Algorithm.GCRA)));
        assertThatThrownBy(() -> l.tryAcquire("k", Cost.request())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("GCRA");
    }
}

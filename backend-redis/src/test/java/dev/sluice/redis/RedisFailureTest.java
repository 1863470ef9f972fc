package dev.sluice.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.core.FailurePolicy;
import dev.sluice.testkit.ReferenceBackend;
import dev.sluice.testkit.StallCheck;
import dev.sluice.testkit.redis.RedisExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.redisson.api.RedissonClient;

/**
 * Redis killed (SIGKILL) and restarted on the same port, with its own private server: every failure policy decides
 * while it is down, no exception escapes, and the backend is back on Redis within 2 s of the restart.
 */
class RedisFailureTest {

    @RegisterExtension
    static final RedisExtension REDIS = new RedisExtension();

    private static final AtomicInteger NAMESPACES = new AtomicInteger();

    private static RedissonClient newClient() {
        return Clients.failFast(REDIS.endpoint());
    }

    private static String namespace() {
        return "f" + NAMESPACES.incrementAndGet();
    }

    @Test
    @DisplayName("Acquires that time out while Redis stalls are not sent once it answers again: they charge nothing")
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void timedOutAcquiresChargeNothing() throws Exception {
        assumeTrue(REDIS.endpoint().canKill(), "needs a private redis-server");
        RedissonClient c = newClient();
        try {
            Policy policy = Policy.of(Limit.of("requests", 1000, Duration.ofHours(1), Algorithm.TOKEN_BUCKET));
            // A retry interval far below the timeout: callers keep queueing requests during the stall.
            RedisBackend backend = RedisBackend.builder(c).namespace(namespace()).timeout(Duration.ofMillis(100))
                    .retryInterval(Duration.ofMillis(1)).build();
            assertThat(backend.acquire("k", policy, Cost.request()).granted()).isTrue();

            REDIS.endpoint().stall(Duration.ofSeconds(3));
            StallCheck stall = StallCheck.callDuringStall(8, 5, () -> backend.acquire("k", policy, Cost.request()));
            // The probe runs after every earlier call on its key, in the same lane.
            stall.assertChargedAtMost(1000, 1, () -> backend.acquire("k", policy, Cost.request()));
        } finally {
            c.shutdown();
        }
    }

    @Test
    @DisplayName("A refund of what the failure policy granted while Redis stalled does not reach Redis once it answers")
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void refundOfADegradedGrantStaysOffRedis() throws Exception {
        assumeTrue(REDIS.endpoint().canKill(), "needs a private redis-server");
        RedissonClient c = newClient();
        try {
            Policy policy = Policy.of(Limit.of("tokens", 1000, Duration.ofHours(1), Algorithm.TOKEN_BUCKET));
            RedisBackend backend = RedisBackend.builder(c).namespace(namespace()).timeout(Duration.ofMillis(100))
                    .retryInterval(Duration.ofSeconds(1)).failurePolicy(FailurePolicy.FAIL_OPEN).build();
            assertThat(backend.acquire("k", policy, Cost.tokens(100)).remaining(0)).isEqualTo(900);

            REDIS.endpoint().stall(Duration.ofMillis(1500));
            long stalled = System.nanoTime();
            // The first call times out (it was sent, so Redis may charge it later) and opens the breaker; the second
            // is granted by the failure policy without reaching Redis.
            assertThat(backend.acquireTimed("k", policy, Cost.tokens(1)).decidedAtMicros()).isEqualTo(-1);
            RedisBackend.TimedDecision open = backend.acquireTimed("k", policy, Cost.tokens(500));
            assertThat(open.decision().granted()).isTrue();
            assertThat(open.decidedAtMicros()).as("decided without Redis").isEqualTo(-1);

            TimeUnit.NANOSECONDS.sleep(Math.max(0, stalled + TimeUnit.MILLISECONDS.toNanos(2500) - System.nanoTime()));
            backend.refund("k", policy, Cost.tokens(500)); // the caller used none of it
            RedisBackend.TimedDecision probe;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            do {
                probe = backend.acquireTimed("k", policy, Cost.tokens(1));
                TimeUnit.MILLISECONDS.sleep(50);
            } while (probe.decidedAtMicros() < 0 && System.nanoTime() < deadline);
            assertThat(probe.decidedAtMicros()).as("Redis answers again").isPositive();
            // 100 charged before, perhaps 1 for the call sent during the stall, 1 for a probe that timed out, 1 now;
            // crediting Redis with the 500 it never charged would have filled the bucket again.
            assertThat(probe.decision().remaining(0)).isBetween(1000L - 100 - 3, 1000L - 100 - 1);
        } finally {
            c.shutdown();
        }
    }

    @Test
    @DisplayName("Redis killed under load and restarted: each failure policy decides, no exception escapes, Redis is back within 2 s")
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void killAndRestart() throws Exception {
        assumeTrue(REDIS.endpoint().canKill(), "needs a private redis-server");
        RedissonClient c = newClient();
        try {
            Policy policy = Policy.of(Limit.of("requests", 1000, Duration.ofSeconds(1), Algorithm.TOKEN_BUCKET));
            RedisBackend closed = RedisBackend.builder(c).namespace(namespace()).timeout(Duration.ofMillis(200))
                    .retryInterval(Duration.ofMillis(100)).build();
            RedisBackend open = RedisBackend.builder(c).namespace(namespace()).timeout(Duration.ofMillis(200))
                    .retryInterval(Duration.ofMillis(100)).failurePolicy(FailurePolicy.FAIL_OPEN).build();
            dev.sluice.api.spi.LimiterBackend local = new ReferenceBackend(dev.sluice.api.Ticker.system());
            RedisBackend fallback = RedisBackend.builder(c).namespace(namespace()).timeout(Duration.ofMillis(200))
                    .retryInterval(Duration.ofMillis(100)).localFallback(local, 0.01).build();
            assertThat(closed.acquire("k", policy, Cost.request()).granted()).isTrue();

            // Load on all three while Redis dies and comes back: counted by reason; any exception is a failure.
            java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            java.util.Queue<Throwable> escaped = new java.util.concurrent.ConcurrentLinkedQueue<>();
            java.util.Map<String, java.util.Set<Decision.Reason>> seen = new java.util.concurrent.ConcurrentHashMap<>();
            java.util.List<Thread> load = new java.util.ArrayList<>();
            java.util.Map<String, RedisBackend> backends = java.util.Map.of("closed", closed, "open", open,
                    "fallback", fallback);
            backends.forEach((name, backend) -> {
                Thread t = new Thread(() -> {
                    for (int i = 0; i < 1_000_000 && !stop.get(); i++) {
                        try {
                            seen.computeIfAbsent(name, n -> java.util.EnumSet.noneOf(Decision.Reason.class))
                                    .add(backend.acquire("load", policy, Cost.request()).reason());
                        } catch (Throwable e) {
                            escaped.add(e);
                        }
                    }
                });
                t.start();
                load.add(t);
            });
            TimeUnit.MILLISECONDS.sleep(100);

            REDIS.endpoint().kill();
            Decision d = closed.acquire("k", policy, Cost.request());
            assertThat(d.granted()).isFalse();
            assertThat(d.reason()).isEqualTo(Decision.Reason.BACKEND_UNAVAILABLE);
            assertThat(open.acquire("k", policy, Cost.request()).granted()).isTrue();
            int fallbackGrants = 0;
            Policy hourly = Policy.of(Limit.of("requests", 1000, Duration.ofHours(1), Algorithm.TOKEN_BUCKET));
            for (int i = 0; i < 50; i++) {
                if (fallback.acquire("k", hourly, Cost.request()).granted()) {
                    fallbackGrants++;
                }
            }
            assertThat(fallbackGrants).as("1% of a burst of 1000 per hour").isEqualTo(10);
            assertThat(closed.degradedDecisions()).isPositive();
            io.micrometer.core.instrument.simple.SimpleMeterRegistry registry =
                    new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
            new RedisBackendMetrics(closed, "closed").bindTo(registry);
            // The load threads keep counting: the metric must read the live count, between two reads of it.
            long countBefore = closed.degradedDecisions();
            double counted = registry.get(dev.sluice.core.SluiceMetricNames.BACKEND_DEGRADED).functionCounter()
                    .count();
            long countAfter = closed.degradedDecisions();
            assertThat(counted).isBetween((double) countBefore, (double) countAfter);
            assertThat(open.degradedDecisions()).isPositive();

            REDIS.endpoint().restart();
            long restarted = System.nanoTime();
            long back = -1;
            while (System.nanoTime() - restarted < TimeUnit.SECONDS.toNanos(5)) {
                long before = closed.degradedDecisions();
                Decision again = closed.acquire("k", policy, Cost.request());
                if (again.granted() && closed.degradedDecisions() == before) {
                    back = System.nanoTime() - restarted;
                    break;
                }
                TimeUnit.MILLISECONDS.sleep(20);
            }
            assertThat(back).as("back on Redis after the restart").isBetween(0L, TimeUnit.SECONDS.toNanos(2));
            stop.set(true);
            for (Thread t : load) {
                t.join(10_000);
            }
            assertThat(escaped).as("no exception escapes").isEmpty();
            assertThat(seen.get("closed")).contains(Decision.Reason.BACKEND_UNAVAILABLE, Decision.Reason.GRANTED);
            assertThat(seen.get("open")).doesNotContain(Decision.Reason.BACKEND_UNAVAILABLE);
            assertThat(seen.get("fallback")).doesNotContain(Decision.Reason.BACKEND_UNAVAILABLE);
        } finally {
            c.shutdown();
        }
    }
}

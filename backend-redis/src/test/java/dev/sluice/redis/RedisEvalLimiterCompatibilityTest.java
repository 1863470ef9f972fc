package dev.sluice.redis;

import dev.sluice.api.ManualTicker;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.testkit.LimiterCompatibilityKit;
import dev.sluice.testkit.redis.RedisExtension;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.redisson.api.RedissonClient;

/**
 * The compatibility kit on a real Redis with the script run through {@code EVALSHA} (what Redis before 7 gets), so
 * both ways of running the one Lua text decide exactly as the reference does.
 */
class RedisEvalLimiterCompatibilityTest extends LimiterCompatibilityKit {

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
    protected LimiterBackend createBackend(ManualTicker ticker) {
        return RedisBackend.builder(client).namespace("eval" + NAMESPACES.incrementAndGet()).ticker(ticker)
                .redisFunctions(false).timeout(java.time.Duration.ofSeconds(10)).build();
    }

    @Override
    protected boolean forgetsIdleKeys() {
        return true;
    }

    @Override
    protected int differentialSequences() {
        return 200;
    }
}

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
 * The compatibility kit, differential test included, on a real Redis: the Lua twin must decide exactly as the
 * reference does, with the kit's manual time passed to the script. Each backend gets its own namespace.
 */
class RedisLimiterCompatibilityTest extends LimiterCompatibilityKit {

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
        return RedisBackend.builder(client).namespace("kit" + NAMESPACES.incrementAndGet()).ticker(ticker)
                .timeout(java.time.Duration.ofSeconds(10)).build(); // generous: shared machines stall
    }

    /** Redis forgets a key once it is at rest (it is deleted or expires). */
    @Override
    protected boolean forgetsIdleKeys() {
        return true;
    }

    @Override
    protected int differentialSequences() {
        return 400;
    }
}

package dev.sluice.redis;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.api.ManualTicker;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.testkit.LimiterCompatibilityKit;
import dev.sluice.testkit.redis.RedisCluster;
import dev.sluice.testkit.redis.RedisServer;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.redisson.Redisson;
import org.redisson.api.RedissonClient;
import org.redisson.config.Config;

/**
 * The compatibility kit on a real Redis Cluster of 3 masters started by the test: every key's state is one hash in
 * one slot, so no script call can fail with CROSSSLOT, and the script is loaded on whichever master a key lives on.
 */
class RedisClusterLimiterCompatibilityTest extends LimiterCompatibilityKit {

    private static final AtomicInteger NAMESPACES = new AtomicInteger();
    private static RedisCluster cluster;
    private static RedissonClient client;

    @BeforeAll
    static void startCluster() {
        assumeTrue(RedisServer.available(), "redis-server and redis-cli are needed for a cluster");
        cluster = RedisCluster.start(3);
        Config config = new Config();
        config.useClusterServers().addNodeAddress(cluster.nodeUris().toArray(String[]::new));
        client = Redisson.create(config);
    }

    @AfterAll
    static void stopCluster() {
        if (client != null) {
            client.shutdown();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    @Override
    protected LimiterBackend createBackend(ManualTicker ticker) {
        return RedisBackend.builder(client).namespace("cluster" + NAMESPACES.incrementAndGet()).ticker(ticker)
                .timeout(java.time.Duration.ofSeconds(10)).build(); // generous: shared machines stall
    }

    @Override
    protected boolean forgetsIdleKeys() {
        return true;
    }

    @Override
    protected int differentialSequences() {
        return 100;
    }
}

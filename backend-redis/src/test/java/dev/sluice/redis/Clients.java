package dev.sluice.redis;

import dev.sluice.testkit.redis.RedisEndpoint;
import org.redisson.Redisson;
import org.redisson.api.RedissonClient;
import org.redisson.config.Config;

/** Redisson clients on a test's Redis endpoint. */
final class Clients {

    private Clients() {
    }

    /** A client with Redisson's defaults. */
    static RedissonClient connect(RedisEndpoint endpoint) {
        Config config = new Config();
        config.useSingleServer().setAddress(endpoint.uri());
        return Redisson.create(config);
    }

    /** A client that gives up at once when Redis is gone (no retries, 1 s timeouts): for failure tests. */
    static RedissonClient failFast(RedisEndpoint endpoint) {
        Config config = new Config();
        config.useSingleServer().setAddress(endpoint.uri())
                .setRetryAttempts(0)
                .setTimeout(1000)
                .setConnectTimeout(1000);
        return Redisson.create(config);
    }
}

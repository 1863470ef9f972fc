package dev.sluice.testkit.redis;

import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * The Testcontainers fallback, kept apart so that Testcontainers' classes are loaded only when it is actually used.
 */
final class RedisContainers {

    private static final int REDIS_PORT = 6379;

    /** A started container and the endpoint it maps to. */
    record Started(RedisEndpoint endpoint, AutoCloseable container) {}

    private RedisContainers() {}

    /** Whether a Docker engine answers; false, not an exception, when Testcontainers cannot even look. */
    static boolean dockerAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }

    /** Starts {@code redis:7} (nothing persisted) with its port 6379 mapped to a free host port. */
    static Started startRedis() {
        GenericContainer<?> container = new GenericContainer<>(DockerImageName.parse("redis:7"))
                .withExposedPorts(REDIS_PORT)
                .withCommand("redis-server", "--save", "", "--appendonly", "no");
        container.start();
        String host = container.getHost();
        int port = container.getMappedPort(REDIS_PORT);
        String uriHost = host.contains(":") ? "[" + host + "]" : host;
        RedisEndpoint endpoint = RedisEndpoint.unkillable(RedisEndpoint.TESTCONTAINERS,
                "redis://" + uriHost + ":" + port, host, port);
        return new Started(endpoint, container);
    }
}

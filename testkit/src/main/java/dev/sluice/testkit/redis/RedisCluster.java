package dev.sluice.testkit.redis;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A Redis cluster of private {@link RedisServer} masters on free loopback ports, no replicas, all 16384 slots
 * assigned. {@link #start} returns once every node reports {@code cluster_state:ok}. Each node runs with
 * {@code --cluster-node-timeout 2000} and its own cluster bus port; a test may {@link RedisServer#kill kill} and
 * {@link RedisServer#restart restart} a node through {@link #nodes}. {@link #close} stops every node.
 */
public final class RedisCluster implements AutoCloseable {

    private static final Duration CREATE_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration OK_TIMEOUT = Duration.ofSeconds(15);
    private static final Duration CLI_TIMEOUT = Duration.ofSeconds(5);

    private final List<RedisServer> nodes;

    private RedisCluster(List<RedisServer> nodes) {
        this.nodes = List.copyOf(nodes);
    }

    /**
     * Starts {@code masters} nodes, joins them with {@code redis-cli --cluster create} (no replicas) and waits until
     * every node says {@code cluster_state:ok}.
     *
     * @throws IllegalArgumentException if {@code masters} is below 3, the least Redis accepts for a cluster
     * @throws IllegalStateException if a node did not start, the cluster could not be created, or it was not ok
     *     within about 15 seconds (the message quotes what {@code redis-cli} said)
     */
    public static RedisCluster start(int masters) {
        if (masters < 3) {
            throw new IllegalArgumentException("a Redis cluster needs at least 3 masters, got " + masters);
        }
        List<RedisServer> nodes = new ArrayList<>();
        try {
            for (int i = 0; i < masters; i++) {
                nodes.add(RedisServer.launch(List.of(), true));
            }
            create(nodes);
            awaitOk(nodes);
            return new RedisCluster(nodes);
        } catch (RuntimeException | Error e) {
            nodes.forEach(RedisServer::close);
            throw e;
        }
    }

    /** The nodes, in the order they were started; the first one is the one {@code redis-cli --cluster} was run on. */
    public List<RedisServer> nodes() {
        return nodes;
    }

    /** {@code redis://127.0.0.1:<port>} of every node, in the order of {@link #nodes}. */
    public List<String> nodeUris() {
        return nodes.stream().map(RedisServer::uri).toList();
    }

    /** Stops every node and deletes their directories; later calls do nothing. */
    @Override
    public void close() {
        RuntimeException failure = null;
        for (RedisServer node : nodes) {
            try {
                node.close();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return "RedisCluster" + nodeUris();
    }

    private static void create(List<RedisServer> nodes) {
        List<String> command = new ArrayList<>(List.of("redis-cli", "--cluster", "create"));
        for (RedisServer node : nodes) {
            command.add(node.host() + ":" + node.port());
        }
        command.addAll(List.of("--cluster-replicas", "0", "--cluster-yes"));
        RedisCli.Result result = RedisCli.run(command, CREATE_TIMEOUT);
        if (!result.ok() || !result.output().contains("All 16384 slots covered")) {
            throw new IllegalStateException("could not create the cluster (exit code " + result.exitCode() + ")"
                    + "\ncommand: " + String.join(" ", command) + "\nredis-cli said:\n" + result.output()
                    + "\nlog of the first node:\n" + nodes.get(0).logTail());
        }
    }

    private static void awaitOk(List<RedisServer> nodes) {
        long deadline = System.nanoTime() + OK_TIMEOUT.toNanos();
        for (RedisServer node : nodes) {
            while (true) {
                RedisCli.Result info = RedisCli.at(node.port(), CLI_TIMEOUT, "cluster", "info");
                if (info.ok() && info.output().contains("cluster_state:ok")) {
                    break;
                }
                if (System.nanoTime() - deadline >= 0) {
                    throw new IllegalStateException("the cluster was not ok within " + OK_TIMEOUT.toSeconds()
                            + " s; cluster info on " + node.uri() + ":\n" + info.output()
                            + "\nits log:\n" + node.logTail());
                }
                try {
                    Thread.sleep(25);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for the cluster", e);
                }
            }
        }
    }
}

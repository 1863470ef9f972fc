package dev.sluice.testkit.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(60)
class RedisClusterTest {

    @BeforeAll
    static void needsRedisServer() {
        assumeTrue(RedisServer.available(), "redis-server and redis-cli are not on the PATH"
                + " (apt-get install -y redis-server)");
    }

    @Test
    void threeMastersFormAClusterThatStoresAndReturnsValues() {
        RedisCluster cluster = RedisCluster.start(3);
        try {
            assertThat(cluster.nodeUris()).hasSize(3).doesNotHaveDuplicates()
                    .allSatisfy(uri -> assertThat(uri).startsWith("redis://127.0.0.1:").doesNotEndWith(":6379"));
            for (RedisServer node : cluster.nodes()) {
                String info = Cli.at(node.port(), "cluster", "info").output();
                assertThat(info).contains("cluster_state:ok", "cluster_slots_assigned:16384",
                        "cluster_known_nodes:3", "cluster_size:3");
            }
            int p1 = cluster.nodes().get(0).port();

            assertThat(Cli.clusterAt(p1, "set", "{a}x", "1").text()).isEqualTo("OK");
            assertThat(Cli.clusterAt(p1, "get", "{a}x").text()).isEqualTo("1");
            for (RedisServer node : cluster.nodes()) {
                assertThat(Cli.clusterAt(node.port(), "get", "{a}x").text()).isEqualTo("1");
            }
        } finally {
            cluster.close();
        }

        assertThat(cluster.nodes()).allSatisfy(node -> {
            assertThat(node.running()).isFalse();
            assertThat(Cli.at(node.port(), "ping").output()).doesNotContain("PONG");
        });
    }

    @Test
    void fewerThanThreeMastersAreRefused() {
        assertThatThrownBy(() -> RedisCluster.start(2))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at least 3");
    }
}

package dev.sluice.gateway;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Two gateway instances, each a Hazelcast client of one 2-member cluster, share the provider's quota. */
class TwoGatewaysHazelcastTest {

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    @DisplayName("Two gateways on one Hazelcast cluster together stay within the provider's limit: every call waits "
            + "its turn, none gets a 429 from the provider")
    void sharedQuota() throws Exception {
        String cluster = "gw-" + UUID.randomUUID();
        int[] ports = {freePort(), freePort()};
        List<HazelcastInstance> members = new ArrayList<>();
        try {
            for (int port : ports) {
                members.add(Hazelcast.newHazelcastInstance(member(cluster, port, ports)));
            }
            TwoGatewaysRedisTest.assertSharedQuota("{type: hazelcast, namespace: gw-two, timeout: 3s, hazelcast: "
                    + "{clusterName: \"" + cluster + "\", addresses: [\"127.0.0.1:" + ports[0] + "\", \"127.0.0.1:"
                    + ports[1] + "\"]}}");
        } finally {
            members.forEach(m -> m.getLifecycleService().terminate());
        }
    }

    /** A loopback member with an explicit TCP-IP list: no multicast, nothing beyond this machine. */
    private static Config member(String cluster, int port, int[] all) {
        Config config = new Config();
        config.setClusterName(cluster);
        config.setProperty("hazelcast.phone.home.enabled", "false");
        config.setProperty("hazelcast.logging.type", "none");
        NetworkConfig network = config.getNetworkConfig();
        network.setPort(port).setPortAutoIncrement(false);
        network.getInterfaces().setEnabled(true).addInterface("127.0.0.1");
        JoinConfig join = network.getJoin();
        join.getMulticastConfig().setEnabled(false);
        join.getAutoDetectionConfig().setEnabled(false);
        join.getTcpIpConfig().setEnabled(true);
        for (int p : all) {
            join.getTcpIpConfig().addMember("127.0.0.1:" + p);
        }
        config.getMapConfig("*").setBackupCount(1);
        return config;
    }

    private static int freePort() {
        return dev.sluice.testkit.LoopbackPorts.pick();
    }
}

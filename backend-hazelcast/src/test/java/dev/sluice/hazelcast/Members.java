package dev.sluice.hazelcast;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastException;
import com.hazelcast.core.HazelcastInstance;
import dev.sluice.testkit.LoopbackPorts;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/** Real Hazelcast members in this JVM: loopback only, no multicast, an explicit TCP-IP member list, free ports. */
final class Members {

    private Members() {
    }

    /** Starts {@code count} members of one new cluster and waits until they all see each other. */
    static List<HazelcastInstance> start(int count) {
        return start(count, c -> { });
    }

    /**
     * As {@link #start(int)}, each member's config adjusted by {@code customizer}. A port taken by someone else
     * between its pick and the member's bind starts the cluster again on other ports (three times at most).
     */
    static List<HazelcastInstance> start(int count, java.util.function.Consumer<Config> customizer) {
        for (int attempt = 1; ; attempt++) {
            try {
                return startOnce(count, customizer);
            } catch (HazelcastException e) {
                if (attempt == 3 || !(e.getCause() instanceof java.net.BindException)) {
                    throw e;
                }
            }
        }
    }

    private static List<HazelcastInstance> startOnce(int count, java.util.function.Consumer<Config> customizer) {
        String cluster = "sluice-" + UUID.randomUUID();
        int[] ports = new int[count];
        for (int i = 0; i < count; i++) {
            ports[i] = LoopbackPorts.pick();
        }
        List<HazelcastInstance> members = new ArrayList<>();
        try {
            startAll(cluster, ports, customizer, members);
        } catch (RuntimeException e) {
            members.forEach(m -> m.getLifecycleService().terminate());
            throw e;
        }
        return members;
    }

    private static void startAll(String cluster, int[] ports, java.util.function.Consumer<Config> customizer,
            List<HazelcastInstance> members) {
        int count = ports.length;
        for (int i = 0; i < count; i++) {
            Config config = new Config();
            config.setClusterName(cluster);
            config.setProperty("hazelcast.phone.home.enabled", "false");
            config.setProperty("hazelcast.logging.type", "none");
            // Sweep expired entries every second, all of them in every partition (the defaults sweep a sample of a few
            // partitions every 5 s, so 100,000 expired entries take minutes to leave the map, though none is readable).
            config.setProperty("hazelcast.internal.map.expiration.task.period.seconds", "1");
            config.setProperty("hazelcast.internal.map.expiration.cleanup.percentage", "100");
            config.setProperty("hazelcast.internal.map.expiration.cleanup.operation.count", "271");
            NetworkConfig network = config.getNetworkConfig();
            network.setPort(ports[i]).setPortAutoIncrement(false);
            network.getInterfaces().setEnabled(true).addInterface("127.0.0.1");
            JoinConfig join = network.getJoin();
            join.getMulticastConfig().setEnabled(false);
            join.getAutoDetectionConfig().setEnabled(false);
            join.getTcpIpConfig().setEnabled(true);
            for (int port : ports) {
                join.getTcpIpConfig().addMember("127.0.0.1:" + port);
            }
            config.getMapConfig("*").setBackupCount(1);
            customizer.accept(config);
            members.add(Hazelcast.newHazelcastInstance(config));
        }
    }
}

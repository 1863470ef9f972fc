package dev.sluice.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class LoopbackPortsTest {

    @Test
    @DisplayName("Ports below the ephemeral range, never the same twice, each one a server can bind")
    void distinctBindablePortsBelowTheEphemeralRange() throws Exception {
        int ephemeral = LoopbackPorts.ephemeralLow();
        if (java.nio.file.Files.exists(java.nio.file.Path.of("/proc/sys/net/ipv4/ip_local_port_range"))) {
            assertThat(ephemeral).as("read from the kernel").isEqualTo(Integer.parseInt(java.nio.file.Files
                    .readAllLines(java.nio.file.Path.of("/proc/sys/net/ipv4/ip_local_port_range")).get(0).trim()
                    .split("\\s+")[0]));
        }
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 20; i++) {
            int port = LoopbackPorts.pick();
            assertThat(port).isBetween(10_000, ephemeral - 1).isNotEqualTo(6379);
            assertThat(seen.add(port)).as("handed out once: %s", port).isTrue();
            try (ServerSocket s = new ServerSocket()) {
                s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
                assertThat(s.getLocalPort()).isEqualTo(port);
            }
        }
    }
}

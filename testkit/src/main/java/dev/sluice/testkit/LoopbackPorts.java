package dev.sluice.testkit;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Free loopback ports for servers a test starts on a port it must name in advance (cluster members listing each
 * other, servers that share one port). A port from {@code new ServerSocket(0)} comes from the kernel's ephemeral
 * range, which outgoing connections draw from too: between the probe and the server's bind, another test's client
 * connection can take it. These ports come from below that range, are free when handed out, and are never handed out
 * twice by one JVM.
 */
public final class LoopbackPorts {

    private static final int LOWEST = 10_000;
    private static final Set<Integer> GIVEN = new HashSet<>();

    private LoopbackPorts() {
    }

    /**
     * A loopback port below the ephemeral range, free a moment ago, not 6379, never returned before in this JVM.
     *
     * @throws IllegalStateException if none is found in a few hundred tries
     */
    public static int pick() {
        int below = ephemeralLow();
        for (int i = 0; i < 500; i++) {
            int candidate = ThreadLocalRandom.current().nextInt(LOWEST, below);
            if (candidate == 6379) {
                continue;
            }
            synchronized (GIVEN) {
                if (GIVEN.contains(candidate) || !free(candidate)) {
                    continue;
                }
                GIVEN.add(candidate);
                return candidate;
            }
        }
        throw new IllegalStateException("found no free loopback port in " + LOWEST + ".." + below);
    }

    private static boolean free(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(false);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** The first port of the kernel's ephemeral range (Linux's {@code ip_local_port_range}), else 32768. */
    static int ephemeralLow() {
        try {
            // read by line: a /proc file reports size 0, and Files.readString reads only its first byte then
            String range = Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_local_port_range"),
                    StandardCharsets.US_ASCII).get(0).trim();
            int low = Integer.parseInt(range.split("\\s+")[0]);
            return low > LOWEST + 1000 ? low : 32_768;
        } catch (IOException | RuntimeException e) {
            return 32_768;
        }
    }
}

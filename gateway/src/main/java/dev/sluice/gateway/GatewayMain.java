package dev.sluice.gateway;

import dev.sluice.testkit.simulator.ProviderSimulator;
import dev.sluice.testkit.simulator.SimulatorLimits;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a gateway until the process is stopped (SIGTERM or Ctrl-C drain calls in flight first).
 *
 * <pre>
 * java -jar gateway/target/gateway-*-all.jar                     # embedded default
 * java -jar gateway/target/gateway-*-all.jar sluice-gateway.yaml # a configuration file
 * </pre>
 *
 * <p>The file is the first argument, else {@code $SLUICE_GATEWAY_CONFIG}. With neither, the embedded default runs:
 * the memory backend, no gateway key needed, and the strict provider simulator (60 requests and 100,000 tokens per
 * minute, 50 ms latency) started in-process as the upstream, on {@code 127.0.0.1:8080} ({@code $SLUICE_GATEWAY_PORT}
 * changes the port). An invalid file stops the launch with the field at fault named.
 */
public final class GatewayMain {

    private static final Logger LOG = LoggerFactory.getLogger(GatewayMain.class);

    private GatewayMain() {
    }

    /** Starts the gateway; see the class comment. */
    public static void main(String[] args) throws InterruptedException {
        // Netty's pooled allocator rather than 4.2's adaptive default: on an event-loop proxy it took 6-9 % more
        // requests/s in A/B runs (benchmarks/RESULTS.md). Set before Netty's first use; -Dio.netty.allocator.type
        // overrides it.
        if (System.getProperty("io.netty.allocator.type") == null) {
            System.setProperty("io.netty.allocator.type", "pooled");
        }
        String file = args.length > 0 ? args[0] : System.getenv("SLUICE_GATEWAY_CONFIG");
        Gateway gateway;
        ProviderSimulator simulator = null;
        try {
            if (file != null && !file.isBlank()) {
                Path p = Path.of(file);
                if (!Files.isRegularFile(p)) {
                    System.err.println("sluice gateway: configuration file not found: " + p);
                    System.exit(2);
                    return;
                }
                gateway = Gateway.start(GatewayConfigParser.create().load(p), p);
            } else {
                simulator = ProviderSimulator.builder().limits(SimulatorLimits.perMinute(60, 100_000))
                        .latency(Duration.ofMillis(50)).start();
                int port = Integer.parseInt(envOr("SLUICE_GATEWAY_PORT", "8080"));
                gateway = Gateway.start(GatewayConfig.embeddedDefault(simulator.baseUrl(), port));
                LOG.info("embedded default: provider simulator at {}; try: curl {}/chat/completions -H "
                        + "'content-type: application/json' -d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":"
                        + "\"user\",\"content\":\"Hello\"}]}'", simulator.baseUrl(), gateway.baseUrl());
            }
        } catch (GatewayConfigException e) {
            System.err.println("sluice gateway: invalid configuration: " + e.getMessage());
            System.exit(2);
            return;
        } catch (IllegalStateException e) {
            System.err.println("sluice gateway: " + e.getMessage());
            System.exit(1);
            return;
        }
        Gateway g = gateway;
        ProviderSimulator sim = simulator;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            g.close();
            if (sim != null) {
                sim.close();
            }
        }, "sluice-gateway-shutdown"));
        Thread.currentThread().join();
    }

    private static String envOr(String name, String dflt) {
        @Nullable String v = System.getenv(name);
        return v == null || v.isBlank() ? dflt : v;
    }
}

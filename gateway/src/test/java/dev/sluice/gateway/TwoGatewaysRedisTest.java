package dev.sluice.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testkit.redis.RedisEndpoint;
import dev.sluice.testkit.redis.RedisExtension;
import dev.sluice.testkit.simulator.ProviderSimulator;
import dev.sluice.testkit.simulator.SimulatorLimits;
import dev.sluice.testkit.simulator.SimulatorStats;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Two gateway instances on one private Redis share the provider's quota. */
class TwoGatewaysRedisTest {

    @RegisterExtension
    static final RedisExtension REDIS = new RedisExtension();

    @Test
    @DisplayName("Two gateways on one Redis together stay within the provider's limit: every call waits its turn, "
            + "none gets a 429 from the provider")
    void sharedQuota(RedisEndpoint redis) throws Exception {
        assertSharedQuota("{type: redis, namespace: gw-two-%d, timeout: 3s, redis: {address: \"%s\"}}"
                .formatted(System.nanoTime(), redis.uri()));
    }

    /** Two gateways on the backend {@code backendYaml} (one YAML flow mapping) share one provider quota. */
    static void assertSharedQuota(String backendYaml) throws Exception {
        // the provider: 10 requests in any 1 s window, exactly; Sluice paces 5 per second (GCRA) on the shared
        // key: the margin absorbs a loaded machine stalling the simulator, which bunches arrivals on its clock
        try (ProviderSimulator sim = ProviderSimulator.builder()
                .limits(SimulatorLimits.perMinute(10, 1_000_000).withWindow(Duration.ofSeconds(1)))
                .latency(Duration.ofMillis(5)).start()) {
            GatewayHttpTest.warmUp(sim.baseUrl() + "/chat/completions");
            sim.reset();
            String yaml = """
                    server: {port: 0, reloadInterval: 0}
                    backend: %s
                    queue: {maxWait: 20s}
                    providers:
                      sim:
                        baseUrl: %s
                        keys: [{id: k1, value: sk-shared}]
                        limits:
                          tokensPerMinute: 900000
                          custom: [{dimension: requests, capacity: 5, period: 1s, algorithm: gcra}]
                    models:
                      gpt-4o-mini: {}
                    tenants:
                      a: {keys: [{value: sk-a}]}
                    """.formatted(backendYaml, sim.baseUrl());
            GatewayConfig config = GatewayConfigParser.create().parse(yaml);
            try (Gateway one = Gateway.start(config); Gateway two = Gateway.start(config)) {
                HttpClient http = HttpClient.newHttpClient();
                List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
                int n = 20;
                long start = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    Gateway g = i % 2 == 0 ? one : two;
                    calls.add(http.sendAsync(HttpRequest.newBuilder(URI.create(g.baseUrl() + "/chat/completions"))
                            .timeout(Duration.ofSeconds(30)).header("authorization", "Bearer sk-a")
                            .header("content-type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(GatewayHttpTest.chat("gpt-4o-mini",
                                    ",\"max_tokens\":20,\"user\":\"u" + i + "\""))).build(),
                            HttpResponse.BodyHandlers.ofString()));
                }
                for (CompletableFuture<HttpResponse<String>> c : calls) {
                    HttpResponse<String> r = c.get();
                    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                }
                // One shared GCRA key spaces all 20 calls 200 ms apart: at least 3.8 s. Two unshared ones would let
                // each gateway's 10 through in 1.8 s. (A lower bound: a slow machine only makes it longer.)
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThan(Duration.ofMillis(3700));
                SimulatorStats stats = sim.stats();
                assertThat(stats.admitted()).isEqualTo(n);
                assertThat(stats.rejected429()).as(stats.toString()).isZero();
            }
        }
    }

    @Test
    @DisplayName("A provider 429 seen by one gateway cools the key down for the other: it answers 429 itself and "
            + "sends the provider nothing until the cooldown ends")
    void cooldownIsShared(RedisEndpoint redis) throws Exception {
        // the provider allows 2 requests per 20 s; the gateways believe 100 per minute, so only the 429 can stop them
        try (ProviderSimulator sim = ProviderSimulator.builder()
                .limits(SimulatorLimits.perMinute(2, 1_000_000).withWindow(Duration.ofSeconds(20)))
                .start()) {
            String yaml = """
                    server: {port: 0, reloadInterval: 0}
                    backend: {type: redis, namespace: gw-cool-%d, timeout: 3s, redis: {address: "%s"}}
                    queue: {maxWait: 1s}
                    upstream: {maxRetries: 0}
                    providers:
                      sim:
                        baseUrl: %s
                        keys: [{id: k1, value: sk-shared}]
                        limits: {requestsPerMinute: 100, tokensPerMinute: 900000}
                    models:
                      gpt-4o-mini: {}
                    tenants:
                      a: {keys: [{value: sk-a}]}
                    """.formatted(System.nanoTime(), redis.uri(), sim.baseUrl());
            GatewayConfig config = GatewayConfigParser.create().parse(yaml);
            try (Gateway one = Gateway.start(config); Gateway two = Gateway.start(config)) {
                HttpClient http = HttpClient.newHttpClient();
                assertThat(call(http, one, 0).statusCode()).isEqualTo(200);
                assertThat(call(http, one, 1).statusCode()).isEqualTo(200);
                HttpResponse<String> limited = call(http, one, 2);
                assertThat(limited.statusCode()).as(limited.body()).isEqualTo(429);
                assertThat(limited.headers().firstValue("x-sluice-limited-by")).contains("upstream");
                assertThat(sim.stats().rejected429()).isEqualTo(1);

                // gateway two reads shared cooldowns every second
                Thread.sleep(2500);
                HttpResponse<String> second = call(http, two, 3);
                assertThat(second.statusCode()).as(second.body()).isEqualTo(429);
                assertThat(Long.parseLong(second.headers().firstValue("retry-after").orElseThrow()))
                        .as("the provider's own wait, minus what has passed").isBetween(10L, 20L);
                SimulatorStats stats = sim.stats();
                assertThat(stats.requests()).as("gateway two sent the provider nothing: " + stats).isEqualTo(3);
                assertThat(stats.rejected429()).isEqualTo(1);
            }
        }
    }

    private static HttpResponse<String> call(HttpClient http, Gateway g, int i) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(g.baseUrl() + "/chat/completions"))
                .timeout(Duration.ofSeconds(30)).header("authorization", "Bearer sk-a")
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(GatewayHttpTest.chat("gpt-4o-mini",
                        ",\"max_tokens\":20,\"user\":\"c" + i + "\""))).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}

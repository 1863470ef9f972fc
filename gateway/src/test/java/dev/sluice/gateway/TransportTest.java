package dev.sluice.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.gateway.GatewayConfig.IoTransport;
import dev.sluice.testkit.simulator.ProviderSimulator;
import dev.sluice.testkit.simulator.SimulatorLimits;
import io.vertx.core.transport.Transport;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@code server.transport}: each I/O transport this machine offers serves plain and streamed calls and refuses an
 * oversized body; {@code auto} takes the best available; a bad or unavailable one is refused at start.
 */
class TransportTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String CONFIG_TAIL = """
            providers: {p: {baseUrl: "http://127.0.0.1:1/v1", keys: [{value: k}], limits: {requestsPerMinute: 60}}}
            models: {m: {provider: p}}
            """;

    private static ProviderSimulator sim;
    /** HTTP/1.1 only; {@code h2c} below is the client that upgrades. */
    private static HttpClient http;

    @BeforeAll
    static void start() throws Exception {
        sim = ProviderSimulator.builder().limits(SimulatorLimits.perMinute(10_000, 10_000_000)).start();
        GatewayHttpTest.warmUp(sim.baseUrl() + "/chat/completions");
        http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5))
                .build();
    }

    @AfterAll
    static void stop() throws Exception {
        sim.close();
    }

    @ParameterizedTest
    @EnumSource(IoTransport.class)
    @DisplayName("Each available transport serves a chat completion, a streamed chat and concurrent calls that wait "
            + "for admission over HTTP/2 cleartext, and answers 413 to an oversized body")
    void servesOnEachTransport(IoTransport wanted) throws Exception {
        Transport expected = switch (wanted) {
            // the first, in the documented order of preference, that this machine offers
            case AUTO -> Stream.of(Transport.IO_URING, Transport.EPOLL, Transport.NIO).filter(Transport::available)
                    .findFirst().orElseThrow();
            case IO_URING -> Transport.IO_URING;
            case EPOLL -> Transport.EPOLL;
            case NIO -> Transport.NIO;
        };
        assumeTrue(expected.available(), () -> wanted + " is not available here: " + expected.unavailabilityCause());
        Gateway gateway = Gateway.start(GatewayConfigParser.create().parse("""
                server: {port: 0, reloadInterval: 0, eventLoops: 2, maxBodyBytes: 4096, transport: %s}
                providers:
                  sim:
                    baseUrl: %s
                    keys: [{value: sk-sim}]
                    limits: {requestsPerMinute: 10000, tokensPerMinute: 1000000}
                  narrow:
                    baseUrl: %s
                    keys: [{value: sk-narrow}]
                    limits: {custom: [{dimension: requests, capacity: 5, period: 1s, algorithm: gcra}]}
                models:
                  gpt-4o-mini: {provider: sim}
                  gpt-3.5-turbo: {provider: narrow}
                tenants:
                  team: {keys: [{value: sk-team}]}
                """.formatted(wanted.name().toLowerCase(Locale.ROOT), sim.baseUrl(), sim.baseUrl())));
        try {
            assertThat(gateway.transport()).isEqualTo(expected.name());

            HttpResponse<String> plain = post(gateway, GatewayHttpTest.chat("gpt-4o-mini", ",\"max_tokens\":20"));
            assertThat(plain.statusCode()).isEqualTo(200);
            JsonNode body = JSON.readTree(plain.body());
            assertThat(body.path("choices").get(0).path("message").path("content").asText()).isNotEmpty();
            assertThat(body.path("usage").path("total_tokens").asLong()).isPositive();

            HttpResponse<String> streamed = post(gateway, GatewayHttpTest.chat("gpt-4o-mini",
                    ",\"stream\":true,\"max_tokens\":30,\"stream_options\":{\"include_usage\":true}"));
            assertThat(streamed.statusCode()).isEqualTo(200);
            List<String> events = streamed.body().lines().filter(l -> l.startsWith("data:")).toList();
            assertThat(events.size()).isGreaterThan(2);
            assertThat(events.get(events.size() - 1)).isEqualTo("data: [DONE]");
            assertThat(streamed.body()).contains("\"usage\":{");

            // Calls that wait for admission, each on a connection that the JDK client upgrades to HTTP/2 (h2c): on
            // io_uring with Netty 4.2.9 the server closed most of these connections without an answer.
            HttpClient h2c = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
            List<CompletableFuture<String>> waiting = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                waiting.add(h2c.sendAsync(request(gateway, GatewayHttpTest.chat("gpt-3.5-turbo", ",\"max_tokens\":5")),
                        HttpResponse.BodyHandlers.ofString())
                        .handle((r, e) -> e != null ? e.toString() : r.statusCode() + " " + r.version()));
            }
            for (CompletableFuture<String> w : waiting) {
                assertThat(w.get(30, TimeUnit.SECONDS)).startsWith("200 ");
            }

            HttpResponse<String> big = post(gateway, GatewayHttpTest.chat("gpt-4o-mini", ",\"user\":\""
                    + "x".repeat(5000) + "\""));
            assertThat(big.statusCode()).isEqualTo(413);
        } finally {
            gateway.close();
        }
    }

    @Test
    @DisplayName("transport defaults to auto; an unknown one is refused naming server.transport and the choices")
    void setting() {
        assertThat(GatewayConfigParser.create().parse(CONFIG_TAIL).server().transport()).isEqualTo(IoTransport.AUTO);
        assertThat(GatewayConfigParser.create().parse("server: {transport: NIO}\n" + CONFIG_TAIL).server()
                .transport()).isEqualTo(IoTransport.NIO);
        assertThatThrownBy(() -> GatewayConfigParser.create().parse("server: {transport: kqueue}\n" + CONFIG_TAIL))
                .isInstanceOf(GatewayConfigException.class)
                .hasMessageContaining("server.transport")
                .hasMessageContaining("auto, io_uring, epoll or nio")
                .hasMessageContaining("'kqueue'");
    }

    @Test
    @DisplayName("A transport named explicitly but not available on this machine stops the start with the reason")
    void unavailableTransportIsRefused() {
        Transport missing = new Transport() {
            @Override
            public String name() {
                return "io_uring";
            }

            @Override
            public boolean available() {
                return false;
            }

            @Override
            public Throwable unavailabilityCause() {
                return new UnsupportedOperationException("io_uring blocked by seccomp");
            }

            @Override
            public io.vertx.core.spi.transport.Transport implementation() {
                throw new UnsupportedOperationException();
            }
        };
        assertThatThrownBy(() -> Gateway.available(IoTransport.IO_URING, missing))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("server.transport: io_uring is not available here")
                .hasMessageContaining("blocked by seccomp");
        assertThat(Gateway.available(IoTransport.NIO, Transport.NIO)).isSameAs(Transport.NIO);
    }

    private static HttpResponse<String> post(Gateway gateway, String body) throws Exception {
        return http.send(request(gateway, body), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpRequest request(Gateway gateway, String body) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + gateway.port() + "/v1/chat/completions"))
                .timeout(Duration.ofSeconds(20)).header("content-type", "application/json")
                .header("authorization", "Bearer sk-team").POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }
}

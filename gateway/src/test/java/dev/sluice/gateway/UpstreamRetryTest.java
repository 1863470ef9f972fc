package dev.sluice.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Retries after an upstream 429, through a running gateway in front of a real upstream that answers a model's first
 * call 429 with {@code retry-after-ms} and later ones 200: how many calls the upstream sees, which key they carry,
 * and what the client gets. Each test has its own gateway (its own cooldowns) and its own model.
 */
class UpstreamRetryTest {

    static StubUpstream stub;
    static HttpClient http;

    @BeforeAll
    static void start() throws Exception {
        stub = new StubUpstream();
        http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    }

    @AfterAll
    static void stop() throws Exception {
        stub.close();
    }

    static Gateway gateway(String model, String maxWait, int maxRetries, int keys) {
        StringBuilder k = new StringBuilder("[");
        for (int i = 1; i <= keys; i++) {
            k.append(i > 1 ? ", " : "").append("{id: k").append(i).append(", value: sk-up-").append(i).append('}');
        }
        String yaml = """
                server: {port: 0, reloadInterval: 0}
                queue: {maxWait: %s}
                upstream: {maxRetries: %d, backoffBase: 20ms, backoffCap: 40ms}
                providers:
                  stub: {baseUrl: "%s", keys: %s], limits: {requestsPerMinute: 1000}}
                models:
                  %s: {}
                """.formatted(maxWait, maxRetries, stub.baseUrl(), k, model);
        return Gateway.start(GatewayConfigParser.create().parse(yaml));
    }

    static HttpResponse<String> chat(Gateway g, String model) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(g.baseUrl() + "/chat/completions"))
                .timeout(Duration.ofSeconds(20)).header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(GatewayHttpTest.chat(model, ""))).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static double upstreamCount(Gateway g, String status) {
        var c = g.registry().find(GatewayMetricNames.UPSTREAM).tag("status", status).counter();
        return c == null ? 0 : c.count();
    }

    @Test
    @DisplayName("After a 429 the call is retried once, not before the cooldown the upstream asked for, and "
            + "succeeds: the upstream saw exactly 2 calls")
    void retriedAfterTheCooldown() throws Exception {
        String model = "once429-150-retry";
        try (Gateway g = gateway(model, "5s", 2, 1)) {
            HttpResponse<String> r = chat(g, model);
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).contains("chat.completion");
            List<StubUpstream.Received> calls = stub.calls(model, "/v1/chat/completions");
            assertThat(calls).hasSize(2);
            // the 429 left the stub after the first arrival, so the gap is at least the cooldown; 2 ms for the
            // whole milliseconds of the wall clock the shared cooldown is kept in
            assertThat(calls.get(1).nanos() - calls.get(0).nanos())
                    .isGreaterThanOrEqualTo(Duration.ofMillis(150 - 2).toNanos());
            assertThat(upstreamCount(g, "429")).isEqualTo(1);
            assertThat(upstreamCount(g, "200")).isEqualTo(1);
        }
    }

    @Test
    @DisplayName("With upstream.maxRetries 0 the client gets the upstream's 429 with Retry-After; no retry is made")
    void noRetries() throws Exception {
        String model = "once429-150-noretry";
        try (Gateway g = gateway(model, "5s", 0, 1)) {
            HttpResponse<String> r = chat(g, model);
            GatewayHttpTest.assertOpenAiError(r, 429);
            assertThat(r.headers().firstValue("retry-after")).hasValue("1");
            assertThat(r.headers().firstValue("retry-after-ms")).hasValue("150");
            assertThat(r.headers().firstValue("x-sluice-limited-by")).hasValue("upstream");
            JsonNode e = GatewayHttpTest.JSON.readTree(r.body()).path("error");
            assertThat(e.path("code").asText()).isEqualTo("rate_limit_exceeded");
            assertThat(r.body()).doesNotContain("sk-up");
            assertThat(stub.calls(model)).isEqualTo(1);
        }
    }

    @Test
    @DisplayName("A cooldown longer than the call's deadline gives the 429 at once, without a retry; the next call "
            + "finds the key cooling down and is refused without reaching the upstream")
    void deadlineShorterThanCooldown() throws Exception {
        String model = "once429-5000-deadline";
        try (Gateway g = gateway(model, "1s", 2, 1)) {
            HttpResponse<String> r = chat(g, model);
            GatewayHttpTest.assertOpenAiError(r, 429);
            assertThat(r.headers().firstValue("x-sluice-limited-by")).hasValue("upstream");
            assertThat(r.headers().firstValue("retry-after")).hasValue("5");
            assertThat(r.headers().firstValue("retry-after-ms")).hasValue("5000");
            assertThat(stub.calls(model)).isEqualTo(1);

            HttpResponse<String> next = chat(g, model);
            GatewayHttpTest.assertOpenAiError(next, 429);
            assertThat(next.headers().firstValue("x-sluice-limited-by")).hasValue("cooldown");
            assertThat(stub.calls(model)).isEqualTo(1);
        }
    }

    @Test
    @DisplayName("With a second key in the pool, a retry need not wait for the cooled key: it goes out on the other "
            + "key within the deadline, never on the cooled one")
    void retryOnAnotherKey() throws Exception {
        String model = "once429-5000-pool";
        try (Gateway g = gateway(model, "1s", 2, 2)) {
            HttpResponse<String> r = chat(g, model);
            assertThat(r.statusCode()).isEqualTo(200);
            List<StubUpstream.Received> calls = stub.calls(model, "/v1/chat/completions");
            assertThat(calls).hasSize(2);
            assertThat(calls.get(1).authorization()).isNotEqualTo(calls.get(0).authorization());
            assertThat(calls).extracting(StubUpstream.Received::authorization)
                    .containsExactlyInAnyOrder("Bearer sk-up-1", "Bearer sk-up-2");
        }
    }
}

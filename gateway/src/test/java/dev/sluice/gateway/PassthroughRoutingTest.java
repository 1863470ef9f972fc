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
 * Pass-through calls ({@code /v1/*} other than the governed endpoints) routed by the model their body names, by the
 * {@code x-sluice-provider} header, or to the configured default, through a running gateway in front of two real
 * upstreams. Each upstream is told apart by what it received and with which provider key.
 */
class PassthroughRoutingTest {

    static StubUpstream upA;
    static StubUpstream upB;
    static Gateway gateway;
    static HttpClient http;

    @BeforeAll
    static void start() throws Exception {
        upA = new StubUpstream();
        upB = new StubUpstream();
        String yaml = """
                server: {port: 0, reloadInterval: 0}
                queue: {maxWait: 1s}
                passthrough: {provider: b}
                providers:
                  a:
                    baseUrl: %s
                    keys: [{id: a1, value: sk-prov-a}]
                    limits: {requestsPerMinute: 1000}
                  b:
                    baseUrl: %s
                    keys: [{id: b1, value: sk-prov-b}]
                    limits: {requestsPerMinute: 1000}
                models:
                  model-a: {provider: a}
                  model-b: {provider: b}
                  model-b-one: {provider: b, upstreamModel: b-upstream-name, limits: {requestsPerMinute: 1}}
                """.formatted(upA.baseUrl(), upB.baseUrl());
        gateway = Gateway.start(GatewayConfigParser.create().parse(yaml));
        http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    }

    @AfterAll
    static void stop() throws Exception {
        gateway.close();
        upA.close();
        upB.close();
    }

    /** A call with {@code body} (null: GET) and header name/value pairs. */
    static HttpResponse<String> call(String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + gateway.port() + path))
                .timeout(Duration.ofSeconds(20));
        if (body == null) {
            b.GET();
        } else {
            b.header("content-type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        }
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** What {@code up} received on {@code path} after the first {@code before} calls there. */
    static List<StubUpstream.Received> since(StubUpstream up, String path, int before) {
        List<StubUpstream.Received> all = up.on(path);
        return all.subList(before, all.size());
    }

    @Test
    @DisplayName("A pass-through body naming a configured model goes to that model's provider with its key, byte "
            + "for byte (no upstreamModel rewrite), whatever the default")
    void modelRoutes() throws Exception {
        int a = upA.on("/v1/moderations").size();
        int b = upB.on("/v1/moderations").size();
        String body = "{ \"input\" : \"hello\",\n  \"model\" : \"model-a\" }";
        HttpResponse<String> r = call("/v1/moderations", body);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("modr-1");
        List<StubUpstream.Received> got = since(upA, "/v1/moderations", a);
        assertThat(got).hasSize(1);
        assertThat(got.get(0).authorization()).isEqualTo("Bearer sk-prov-a");
        assertThat(got.get(0).body()).isEqualTo(body);
        assertThat(upB.on("/v1/moderations")).hasSize(b);
    }

    @Test
    @DisplayName("A pass-through call naming a model is charged on that model's limits, shared with its governed "
            + "calls: past them it gets a 429, while the other provider and the provider's own limits are unaffected")
    void modelLimitsCharged() throws Exception {
        int b = upB.on("/v1/moderations").size();
        String body = "{\"model\":\"model-b-one\",\"input\":\"x\"}";
        HttpResponse<String> first = call("/v1/moderations", body);
        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(first.headers().firstValue("x-ratelimit-limit-requests")).hasValue("1");
        List<StubUpstream.Received> got = since(upB, "/v1/moderations", b);
        assertThat(got).hasSize(1);
        assertThat(got.get(0).authorization()).isEqualTo("Bearer sk-prov-b");
        assertThat(got.get(0).body()).isEqualTo(body);

        HttpResponse<String> second = call("/v1/moderations", body);
        GatewayHttpTest.assertOpenAiError(second, 429);
        assertThat(second.headers().firstValue("x-sluice-limited-by")).hasValue("provider");
        assertThat(second.headers().firstValue("x-ratelimit-limit-requests")).hasValue("1");
        assertThat(second.headers().firstValue("retry-after")).isPresent();
        // a governed call of the same model finds the quota the pass-through call took
        HttpResponse<String> chat = call("/v1/chat/completions", GatewayHttpTest.chat("model-b-one", ""));
        GatewayHttpTest.assertOpenAiError(chat, 429);
        assertThat(since(upB, "/v1/moderations", b)).hasSize(1);
        assertThat(upB.on("/v1/chat/completions")).isEmpty();

        // provider a, and provider b's own key limits (the default route), are unaffected
        assertThat(call("/v1/moderations", "{\"model\":\"model-a\"}").statusCode()).isEqualTo(200);
        int files = upB.on("/v1/files").size();
        assertThat(call("/v1/files", null).statusCode()).isEqualTo(200);
        assertThat(upB.on("/v1/files")).hasSize(files + 1);
    }

    @Test
    @DisplayName("Without a configured model in the body, the x-sluice-provider header picks the provider; a model "
            + "in the body comes first")
    void headerRoutes() throws Exception {
        int a = upA.on("/v1/files").size();
        int b = upB.on("/v1/files").size();
        assertThat(call("/v1/files", null, "x-sluice-provider", "a").statusCode()).isEqualTo(200);
        List<StubUpstream.Received> got = since(upA, "/v1/files", a);
        assertThat(got).hasSize(1);
        assertThat(got.get(0).authorization()).isEqualTo("Bearer sk-prov-a");
        assertThat(got.get(0).method()).isEqualTo("GET");
        assertThat(upB.on("/v1/files")).hasSize(b);

        int ma = upA.on("/v1/moderations").size();
        int mb = upB.on("/v1/moderations").size();
        String unknownModel = "{\"model\":\"omni-moderation-latest\",\"input\":\"x\"}";
        assertThat(call("/v1/moderations", unknownModel, "x-sluice-provider", "a").statusCode()).isEqualTo(200);
        assertThat(since(upA, "/v1/moderations", ma)).extracting(StubUpstream.Received::body)
                .containsExactly(unknownModel);

        assertThat(call("/v1/moderations", "{\"model\":\"model-b\"}", "x-sluice-provider", "a").statusCode())
                .isEqualTo(200);
        assertThat(since(upB, "/v1/moderations", mb)).extracting(StubUpstream.Received::model)
                .containsExactly("model-b");
        assertThat(upA.on("/v1/moderations")).hasSize(ma + 1);
    }

    @Test
    @DisplayName("With neither, a call goes to passthrough.provider; bodies that are not one JSON object are "
            + "passed on unchanged there, not refused")
    void defaultRoutes() throws Exception {
        int a = upA.received.size();
        int files = upB.on("/v1/files").size();
        assertThat(call("/v1/files", null).statusCode()).isEqualTo(200);
        assertThat(upB.on("/v1/files")).hasSize(files + 1);

        int b = upB.on("/v1/moderations").size();
        // malformed although it starts by naming model-a: it is not a JSON object, so it names no model
        List<String> odd = List.of("{\"model\": \"model-a\", ", "[{\"model\":\"model-a\"}]", "input=hello", "",
                "{\"model\":\"model-a\"} {}", "{\"model\":{\"name\":\"model-a\"}}");
        for (String body : odd) {
            HttpResponse<String> r = call("/v1/moderations", body);
            assertThat(r.statusCode()).as(body).isEqualTo(200);
        }
        assertThat(since(upB, "/v1/moderations", b)).extracting(StubUpstream.Received::body)
                .containsExactlyElementsOf(odd);
        assertThat(since(upB, "/v1/moderations", b)).extracting(StubUpstream.Received::authorization)
                .containsOnly("Bearer sk-prov-b");
        assertThat(upA.received).hasSize(a);
    }

    @Test
    @DisplayName("A pass-through call the provider refuses with 401 (its message showing part of the provider key) "
            + "is a 502 upstream_auth written by the gateway, with nothing of the key")
    void upstreamAuth() throws Exception {
        upB.denyFiles.set(true);
        try {
            int files = upB.on("/v1/files").size();
            HttpResponse<String> r = call("/v1/files", null);
            assertThat(upB.on("/v1/files")).hasSize(files + 1);
            GatewayHttpTest.assertOpenAiError(r, 502);
            assertThat(GatewayHttpTest.JSON.readTree(r.body()).path("error").path("code").asText())
                    .isEqualTo("upstream_auth");
            assertThat(r.body()).doesNotContain("sk-").doesNotContain("abcd");
            upB.denyFiles.set(false);
            assertThat(call("/v1/files", null).statusCode()).as("the connection and the key are still usable")
                    .isEqualTo(200);
        } finally {
            upB.denyFiles.set(false);
        }
    }

    @Test
    @DisplayName("An x-sluice-provider header naming no provider is a 400 in OpenAI's format naming the header; "
            + "nothing goes upstream")
    void unknownHeader() throws Exception {
        int a = upA.received.size();
        int b = upB.received.size();
        HttpResponse<String> r = call("/v1/files", null, "x-sluice-provider", "azure");
        GatewayHttpTest.assertOpenAiError(r, 400);
        JsonNode e = GatewayHttpTest.JSON.readTree(r.body()).path("error");
        assertThat(e.path("message").asText()).contains("x-sluice-provider").contains("'azure'");
        assertThat(e.path("code").asText()).isEqualTo("unknown_provider");
        assertThat(e.path("type").asText()).isEqualTo("invalid_request_error");
        assertThat(r.body()).doesNotContain("sk-prov");
        GatewayHttpTest.assertOpenAiError(call("/v1/moderations", "{\"input\":\"x\"}", "x-sluice-provider", ""),
                400);
        assertThat(upA.received).hasSize(a);
        assertThat(upB.received).hasSize(b);
    }
}

package dev.sluice.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * A configuration reload while calls wait or run: refunds and settlements made under a tenant policy that lost a
 * dimension fail in the limiter, and the gateway must still answer every call and keep serving.
 */
class ReloadWhileWaitingTest {

    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    static String config(StubUpstream stub, String tenantLimits, String providerLimits, String maxWait) {
        return """
                server: {port: 0, reloadInterval: 0}
                queue: {maxWait: %s}
                providers:
                  stub:
                    baseUrl: "%s"
                    keys: [{value: sk-up}]
                    limits: {custom: [%s]}
                models:
                  ok-model: {}
                  hold-model: {}
                tenants:
                  t: {keys: [{value: sk-t}], limits: {%s}}
                  u: {keys: [{value: sk-u}]}
                """.formatted(maxWait, stub.baseUrl(), providerLimits, tenantLimits);
    }

    static CompletableFuture<HttpResponse<String>> chat(Gateway g, String key, String model, String extra) {
        return HTTP.sendAsync(HttpRequest.newBuilder(URI.create(g.baseUrl() + "/chat/completions"))
                .timeout(Duration.ofSeconds(15)).header("authorization", "Bearer " + key)
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(GatewayHttpTest.chat(model, extra))).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** Decisions the gateway's limiter answered with {@code result}. */
    static double decisions(Gateway g, String result) {
        var c = g.registry().find("sluice.limiter.acquisitions").tag("result", result).counter();
        return c == null ? 0 : c.count();
    }

    static void await(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.getAsBoolean() && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertThat(condition.getAsBoolean()).isTrue();
    }

    @Test
    @DisplayName("A waiting call whose refund fails after a reload took tokens out of its tenant's share and its "
            + "provider's limits is still answered, and the waiting room serves later calls of every tenant")
    void failedRefundOfWaitingCall() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            GatewayConfigParser parser = GatewayConfigParser.create();
            // the reload must come while the waiting call still waits: 5 s leaves a slow machine time enough
            String requests = "{dimension: requests, capacity: 1, period: 5s, algorithm: sliding_log}";
            String tokens = ", {dimension: tokens, capacity: 100000, period: 1m}";
            try (Gateway g = Gateway.start(parser.parse(config(stub, "requestsPerMinute: 100, tokensPerMinute: "
                    + "100000", requests + tokens, "8s")))) {
                assertThat(chat(g, "sk-t", "ok-model", "").get().statusCode()).isEqualTo(200);
                CompletableFuture<HttpResponse<String>> waiting = chat(g, "sk-t", "ok-model", "");
                await(() -> decisions(g, "rate_limited") >= 1); // charged on its tenant, waiting for the key
                // its next try on the key and then its tenant's refund name a dimension the policies lost
                g.apply(parser.parse(config(stub, "requestsPerMinute: 100", requests, "8s")));
                HttpResponse<String> failed = waiting.get();
                GatewayHttpTest.assertOpenAiError(failed, 503);
                assertThat(failed.body()).contains("limiter_unavailable");

                assertThat(chat(g, "sk-u", "ok-model", "").get().statusCode()).isEqualTo(200);
                assertThat(chat(g, "sk-t", "ok-model", "").get().statusCode()).isEqualTo(200);
                await(() -> g.inFlight() == 0);
            }
        }
    }

    @Test
    @DisplayName("A call settled after a reload took tokens out of its tenant's share (the tenant's settlement "
            + "fails) still gives the provider key back the tokens it did not use")
    void settlementAfterReload() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            GatewayConfigParser parser = GatewayConfigParser.create();
            String key = "{dimension: tokens, capacity: 1000, period: 1h}, {dimension: requests, capacity: 100, "
                    + "period: 1s}";
            try (Gateway g = Gateway.start(parser.parse(config(stub, "requestsPerMinute: 100, tokensPerMinute: "
                    + "100000", key, "1s")))) {
                // reserves about 910 of the key's 1000 tokens an hour; uses 6
                CompletableFuture<HttpResponse<String>> held = chat(g, "sk-t", "hold-model", ",\"max_tokens\":900");
                await(() -> stub.calls("hold-model") == 1);
                g.apply(parser.parse(config(stub, "requestsPerMinute: 100", key, "1s")));
                stub.release();
                assertThat(held.get().statusCode()).isEqualTo(200);
                // fits only if the first call's unused tokens went back to the key
                assertThat(chat(g, "sk-t", "ok-model", ",\"max_tokens\":900").get().statusCode()).isEqualTo(200);
            }
        }
    }
}

package dev.sluice.gateway;

import static org.assertj.core.api.Assertions.assertThat;

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

    /**
     * Two calls of {@code key} reserving about 1,000 of a 2,000-tokens-a-minute limit each are held at the provider;
     * a third waits for the limit (most of a minute away); once the two are answered (each used 6 tokens), the third
     * is served well within chat's own 15 s timeout.
     */
    static void heldCallsGiveTheirTokensToAWaitingOne(Gateway g, StubUpstream stub, String key) throws Exception {
        List<CompletableFuture<HttpResponse<String>>> held = List.of(
                chat(g, key, "hold-model", ",\"max_tokens\":980"),
                chat(g, key, "hold-model", ",\"max_tokens\":980"));
        await(() -> stub.calls("hold-model") == 2);
        CompletableFuture<HttpResponse<String>> third = chat(g, key, "ok-model", ",\"max_tokens\":980");
        await(() -> g.waiting() == 1);
        stub.release();
        for (CompletableFuture<HttpResponse<String>> h : held) {
            assertThat(h.get().statusCode()).isEqualTo(200);
        }
        assertThat(third.get().statusCode()).as("served once the held calls gave their tokens back").isEqualTo(200);
    }

    @Test
    @DisplayName("A waiting call refused after a reload that removed its key and took tokens out of its tenant's share "
            + "(so its tenant's refund fails) is answered, and the waiting room serves later calls of every tenant")
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
                await(() -> g.waiting() == 1); // charged on its tenant, waiting for the key
                // its key is gone, and its tenant's refund names a dimension the tenant's policy lost
                g.apply(parser.parse(config(stub, "requestsPerMinute: 100", requests, "8s")
                        .replace("keys: [{value: sk-up}]", "keys: [{id: other, value: sk-other}]")));
                HttpResponse<String> refused = waiting.get();
                GatewayHttpTest.assertOpenAiError(refused, 429);
                assertThat(refused.body()).contains("removed the provider keys");

                assertThat(chat(g, "sk-u", "ok-model", "").get().statusCode()).isEqualTo(200);
                // the new key's 1 request per 5 s: t's call waits for it
                assertThat(chat(g, "sk-t", "ok-model", "").get().statusCode()).isEqualTo(200);
                await(() -> g.inFlight() == 0);
            }
        }
    }

    @Test
    @DisplayName("A call waiting when a reload changes its key's limits is served under the new limits (here without "
            + "the tokens dimension the call was estimated on)")
    void waiterTakesTheNewLimits() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            GatewayConfigParser parser = GatewayConfigParser.create();
            String requests = "{dimension: requests, capacity: 1, period: 5s, algorithm: sliding_log}";
            String tokens = ", {dimension: tokens, capacity: 100000, period: 1m}";
            try (Gateway g = Gateway.start(parser.parse(config(stub, "requestsPerMinute: 100", requests + tokens,
                    "8s")))) {
                assertThat(chat(g, "sk-t", "ok-model", "").get().statusCode()).isEqualTo(200);
                CompletableFuture<HttpResponse<String>> waiting = chat(g, "sk-t", "ok-model", "");
                await(() -> g.waiting() == 1);
                g.apply(parser.parse(config(stub, "requestsPerMinute: 100", requests, "8s")));
                assertThat(waiting.get().statusCode()).as("served when the key frees").isEqualTo(200);
            }
        }
    }

    @Test
    @DisplayName("Calls waiting when a reload removes a provider key never take it: they wait for the keys left, "
            + "within those keys' limits, instead of going out at once on the removed key's secret")
    void waitersNeverTakeARemovedKey() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            GatewayConfigParser parser = GatewayConfigParser.create();
            String twoKeys = """
                    server: {port: 0, reloadInterval: 0}
                    queue: {maxWait: 8s}
                    providers:
                      stub:
                        baseUrl: "%s"
                        keys: [%s]
                        limits: {custom: [{dimension: requests, capacity: 1, period: 5s, algorithm: sliding_log}]}
                    models:
                      ok-model: {}
                    tenants:
                      t: {keys: [{value: sk-t}]}
                    """;
            try (Gateway g = Gateway.start(parser.parse(twoKeys.formatted(stub.baseUrl(),
                    "{id: main, value: sk-main}, {id: spare, value: sk-spare}")))) {
                for (int i = 0; i < 2; i++) { // one call on each key: both spent for 5 s
                    assertThat(chat(g, "sk-t", "ok-model", "").get().statusCode()).isEqualTo(200);
                }
                List<CompletableFuture<HttpResponse<String>>> waiting = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    waiting.add(chat(g, "sk-t", "ok-model", ""));
                }
                await(() -> g.waiting() == 4); // all four wait for a key
                long reloaded = System.nanoTime();
                g.apply(parser.parse(twoKeys.formatted(stub.baseUrl(), "{id: main, value: sk-main}")));
                List<Integer> statuses = new ArrayList<>();
                for (CompletableFuture<HttpResponse<String>> w : waiting) {
                    statuses.add(w.get().statusCode());
                }
                List<StubUpstream.Received> after = stub.received.stream().filter(r -> r.nanos() > reloaded).toList();
                assertThat(after).as("calls sent after the reload").noneMatch(r -> r.authorization().contains("spare"));
                assertThat(after).as("main admits 1 per 5 s, and the calls wait 8 s at most").hasSize(1);
                assertThat(statuses).as("one served when main frees, the others refused").containsOnlyOnce(200);
            }
        }
    }

    @Test
    @DisplayName("Tokens given back when calls settle below their reservation wake the waiting room: a call waiting for "
            + "them is served then, not when the window ends a minute later")
    void refundsWakeTheWaitingRoom() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            GatewayConfigParser parser = GatewayConfigParser.create();
            String limits = "{dimension: requests, capacity: 100, period: 1m}, "
                    + "{dimension: tokens, capacity: 2000, period: 1m, algorithm: sliding_log}";
            try (Gateway g = Gateway.start(parser.parse(config(stub, "requestsPerMinute: 100", limits, "70s")))) {
                heldCallsGiveTheirTokensToAWaitingOne(g, stub, "sk-u");
            }
        }
    }

    @Test
    @DisplayName("Tokens given back to a tenant's share when its calls settle below their reservation wake the "
            + "tenant's waiting call: it is served then, not when its share's window frees them a minute later")
    void tenantRefundsWakeTheTenantsWaitingCall() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            GatewayConfigParser parser = GatewayConfigParser.create();
            String keyLimits = "{dimension: requests, capacity: 100, period: 1m}, "
                    + "{dimension: tokens, capacity: 100000, period: 1m}";
            // an exact sliding log: the waiting call's predicted wait is the held calls' age short of a minute,
            // wherever the test starts (a window-aligned counter could predict more than maxWait and refuse it)
            try (Gateway g = Gateway.start(parser.parse(config(stub, "requestsPerMinute: 100, tokensPerMinute: 2000, "
                    + "algorithm: sliding_log", keyLimits, "70s")))) {
                heldCallsGiveTheirTokensToAWaitingOne(g, stub, "sk-t");
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

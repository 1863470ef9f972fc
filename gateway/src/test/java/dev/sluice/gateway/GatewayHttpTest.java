package dev.sluice.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.governor.TokenEstimator;
import dev.sluice.testkit.simulator.ProviderSimulator;
import dev.sluice.testkit.simulator.SimulatorLimits;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** Every endpoint and every fault, through a real HTTP client, against a running gateway and real upstreams. */
class GatewayHttpTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static ProviderSimulator sim;
    static StubUpstream stub;
    static Gateway gateway;
    static HttpClient http;

    @BeforeAll
    static void start() throws Exception {
        sim = ProviderSimulator.builder().limits(SimulatorLimits.perMinute(10_000, 10_000_000))
                .latency(Duration.ofMillis(5)).start();
        stub = new StubUpstream();
        warmUp(sim.baseUrl() + "/chat/completions");
        // nobody listens there: below the ephemeral range, so no client connection takes it or connects to itself
        int closed = dev.sluice.testkit.LoopbackPorts.pick();
        String yaml = """
                server: {port: 0, maxBodyBytes: 4096, reloadInterval: 0, bodyTimeout: 500ms}
                queue: {maxWait: 2s}
                upstream: {timeout: 1s, connectTimeout: 1s, maxRetries: 2}
                providers:
                  stub:
                    baseUrl: %s
                    keys: [{id: s1, value: sk-stub-1}]
                    limits: {requestsPerMinute: 10000}
                  sim:
                    baseUrl: %s
                    keys: [{id: k1, value: sk-sim-1}]
                    limits: {requestsPerMinute: 10000, tokensPerMinute: 1000000}
                  dead:
                    baseUrl: http://127.0.0.1:%d/v1
                    keys: [{value: sk-dead}]
                    limits: {requestsPerMinute: 1000}
                models:
                  gpt-4o-mini: {provider: sim}
                  gpt-3.5-turbo-instruct: {provider: stub}
                  text-embedding-3-small: {provider: stub}
                  slow-model: {provider: stub}
                  drip-model: {provider: stub}
                  limited-model: {provider: stub}
                  vision-model: {provider: stub, upstreamModel: ok-model, imageTokens: 85}
                  dead-model: {provider: dead}
                tenants:
                  team-a: {keys: [{value: sk-team-a}]}
                  tiny: {keys: [{value: sk-tiny}], limits: {requestsPerMinute: 2}}
                  waiter: {keys: [{value: sk-waiter}], limits: {requestsPerSecond: 1}}
                  streamer: {keys: [{value: sk-streamer}], limits: {tokensPerMinute: 100000}}
                  leaver: {keys: [{value: sk-leaver}], limits: {tokensPerDay: 3000}}
                  bg-leaver: {keys: [{value: sk-bg-leaver}], limits: {tokensPerDay: 3000}}
                  fg-leaver: {keys: [{value: sk-fg-leaver}], limits: {tokensPerDay: 3000}}
                  capped: {keys: [{value: sk-capped}], limits: {tokensPerDay: 1000}}
                  responder: {keys: [{value: sk-responder}], limits: {tokensPerDay: 3000}}
                """.formatted(stub.baseUrl(), sim.baseUrl(), closed);
        gateway = Gateway.start(GatewayConfigParser.create().parse(yaml));
        http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    }

    /** The simulator loads its tokenizer on its first call: not something to time out on. */
    static void warmUp(String url) throws Exception {
        HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30))
                .header("authorization", "Bearer sk-warm").header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(chat("gpt-4o-mini", ""))).build(),
                HttpResponse.BodyHandlers.discarding());
        HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30))
                .header("authorization", "Bearer sk-warm").header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(chat("gpt-3.5-turbo", ""))).build(),
                HttpResponse.BodyHandlers.discarding());
    }

    @AfterAll
    static void stop() throws Exception {
        gateway.close();
        stub.close();
        sim.close();
    }

    static HttpResponse<String> post(String path, String key, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + gateway.port() + path))
                .timeout(Duration.ofSeconds(20)).header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            b.header("authorization", "Bearer " + key);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(String path, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + gateway.port() + path))
                .timeout(Duration.ofSeconds(20)).GET();
        if (key != null) {
            b.header("authorization", "Bearer " + key);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static String chat(String model, String extra) {
        return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]"
                + extra + "}";
    }

    static void assertOpenAiError(HttpResponse<String> r, int status) throws Exception {
        assertThat(r.statusCode()).isEqualTo(status);
        JsonNode e = JSON.readTree(r.body()).path("error");
        assertThat(e.path("message").asText()).isNotBlank();
        assertThat(e.has("type")).isTrue();
        assertThat(e.has("param")).isTrue();
        assertThat(e.has("code")).isTrue();
        assertThat(r.body()).doesNotContain("Exception").doesNotContain("sk-stub").doesNotContain("sk-sim")
                .doesNotContain("\tat ");
    }

    static void await(BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.getAsBoolean() && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertThat(condition.getAsBoolean()).isTrue();
    }

    @Test
    @DisplayName("A chat completion goes to the upstream with the provider's key and comes back with Sluice's view "
            + "of the limits")
    void chatCompletion() throws Exception {
        long before = sim.stats().admitted();
        HttpResponse<String> r = post("/v1/chat/completions", "sk-team-a", chat("gpt-4o-mini", ",\"max_tokens\":20"));
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode body = JSON.readTree(r.body());
        assertThat(body.path("choices").get(0).path("message").path("content").asText()).isNotEmpty();
        assertThat(body.path("usage").path("total_tokens").asLong()).isPositive();
        assertThat(sim.stats().admitted()).isEqualTo(before + 1);
        assertThat(r.headers().firstValue("x-ratelimit-limit-requests")).hasValue("10000");
        assertThat(r.headers().firstValue("x-ratelimit-remaining-requests")).isPresent();
        assertThat(r.headers().firstValue("x-ratelimit-remaining-tokens")).isPresent();
    }

    @Test
    @DisplayName("A streamed chat is relayed as SSE chunks ending in [DONE]; the usage chunk the gateway asked for "
            + "is passed on only when the client asked for it too")
    void streaming() throws Exception {
        HttpResponse<String> plain = post("/v1/chat/completions", "sk-team-a",
                chat("gpt-4o-mini", ",\"stream\":true,\"max_tokens\":30"));
        assertThat(plain.statusCode()).isEqualTo(200);
        assertThat(plain.headers().firstValue("content-type")).hasValueSatisfying(v ->
                assertThat(v).startsWith("text/event-stream"));
        List<String> events = plain.body().lines().filter(l -> l.startsWith("data:")).toList();
        assertThat(events.size()).isGreaterThan(2);
        assertThat(events.get(events.size() - 1)).isEqualTo("data: [DONE]");
        assertThat(plain.body()).doesNotContain("\"usage\":{");

        HttpResponse<String> withUsage = post("/v1/chat/completions", "sk-team-a", chat("gpt-4o-mini",
                ",\"stream\":true,\"max_tokens\":30,\"stream_options\":{\"include_usage\":true}"));
        assertThat(withUsage.body()).contains("\"usage\":{");
        assertThat(sim.stats().streamed()).isGreaterThanOrEqualTo(2);
    }

    @Test
    @DisplayName("Completions, embeddings, models and other /v1 paths answer")
    void otherEndpoints() throws Exception {
        HttpResponse<String> c = post("/v1/completions", "sk-team-a",
                "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"Say ok\",\"max_tokens\":5}");
        assertThat(c.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(c.body()).path("choices").get(0).path("text").asText()).isEqualTo(" ok");

        int embeddingsBefore = stub.embeddings.get();
        HttpResponse<String> e = post("/v1/embeddings", "sk-team-a",
                "{\"model\":\"text-embedding-3-small\",\"input\":[\"first text\",\"second text\"]}");
        assertThat(e.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(e.body()).path("data").get(0).path("embedding").size()).isEqualTo(2);
        assertThat(stub.embeddings.get()).isEqualTo(embeddingsBefore + 1);

        HttpResponse<String> m = get("/v1/models", "sk-team-a");
        assertThat(m.statusCode()).isEqualTo(200);
        assertThat(m.body()).contains("\"gpt-4o-mini\"").contains("\"text-embedding-3-small\"");
        assertThat(get("/v1/models/gpt-4o-mini", "sk-team-a").statusCode()).isEqualTo(200);

        int filesBefore = stub.files.get();
        HttpResponse<String> f = get("/v1/files", "sk-team-a");
        assertThat(f.statusCode()).isEqualTo(200);
        assertThat(f.body()).contains("\"object\":\"list\"");
        assertThat(stub.files.get()).isEqualTo(filesBefore + 1);
    }

    @Test
    @DisplayName("/health says live and ready with the backend up; /metrics serves Prometheus text")
    void healthAndMetrics() throws Exception {
        HttpResponse<String> h = get("/health", null);
        assertThat(h.statusCode()).isEqualTo(200);
        JsonNode n = JSON.readTree(h.body());
        assertThat(n.path("live").asBoolean()).isTrue();
        assertThat(n.path("ready").asBoolean()).isTrue();
        assertThat(n.path("backendUp").asBoolean()).isTrue();
        post("/v1/chat/completions", "sk-team-a", chat("gpt-4o-mini", ""));
        HttpResponse<String> m = get("/metrics", null);
        assertThat(m.statusCode()).isEqualTo(200);
        assertThat(m.body()).contains("sluice_gateway_requests_total").contains("sluice_gateway_upstream_requests")
                .doesNotContain("sk-team-a").doesNotContain("sk-sim-1");
    }

    @Test
    @DisplayName("Malformed JSON is a 400, a body over the limit a 413, an unknown model a 404 model_not_found, in "
            + "OpenAI's error format")
    void badInput() throws Exception {
        assertOpenAiError(post("/v1/chat/completions", "sk-team-a", "{\"model\": \"gpt-4o-mini\", "), 400);
        assertOpenAiError(post("/v1/chat/completions", "sk-team-a", "[1,2]"), 400);
        assertOpenAiError(post("/v1/chat/completions", "sk-team-a", "{\"messages\":[]}"), 400);
        String big = "x".repeat(5000);
        assertOpenAiError(post("/v1/chat/completions", "sk-team-a", chat("gpt-4o-mini", ",\"user\":\"" + big + "\"")),
                413);
        HttpResponse<String> unknown = post("/v1/chat/completions", "sk-team-a", chat("no-such-model", ""));
        assertOpenAiError(unknown, 404);
        assertThat(JSON.readTree(unknown.body()).path("error").path("code").asText()).isEqualTo("model_not_found");
        assertThat(unknown.body()).contains("no-such-model");
    }

    @Test
    @DisplayName("A max_tokens or n whose token count overflows a long is a 400 request_too_large; nothing goes "
            + "upstream")
    void overflowingTokenCounts() throws Exception {
        int completions = stub.completions.get();
        long upstream = sim.stats().requests();
        for (String extra : List.of("\"max_tokens\":9223372036854775807", "\"max_tokens\":18446744073709551617",
                "\"max_tokens\":4611686018427387904,\"n\":2", "\"max_tokens\":2,\"n\":18446744073709551617")) {
            HttpResponse<String> c = post("/v1/completions", "sk-streamer",
                    "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"Say ok\"," + extra + "}");
            assertOpenAiError(c, 400);
            JsonNode e = JSON.readTree(c.body()).path("error");
            assertThat(e.path("code").asText()).as(extra).isEqualTo("request_too_large");
            assertThat(e.path("type").asText()).isEqualTo("invalid_request_error");
            HttpResponse<String> chat = post("/v1/chat/completions", "sk-streamer", chat("gpt-4o-mini", "," + extra));
            assertOpenAiError(chat, 400);
            assertThat(JSON.readTree(chat.body()).path("error").path("param").asText()).as(extra)
                    .isEqualTo("max_tokens");
        }
        for (String max : List.of("9223372036854775807", "18446744073709551617")) {
            HttpResponse<String> r = post("/v1/responses", "sk-streamer",
                    "{\"model\":\"gpt-4o-mini\",\"input\":\"Say ok\",\"max_output_tokens\":" + max + "}");
            assertOpenAiError(r, 400);
            JsonNode e = JSON.readTree(r.body()).path("error");
            assertThat(e.path("code").asText()).as(max).isEqualTo("request_too_large");
            assertThat(e.path("param").asText()).as(max).isEqualTo("max_output_tokens");
            assertThat(e.path("message").asText()).as(max).endsWith("Lower max_output_tokens.");
        }
        assertThat(stub.completions.get()).isEqualTo(completions);
        assertThat(sim.stats().requests()).isEqualTo(upstream);
    }

    @Test
    @DisplayName("A client that stops sending its body midway gets a 408 and its connection closed; it holds no call "
            + "in flight")
    void stalledBody() throws Exception {
        try (Socket s = new Socket("127.0.0.1", gateway.port())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer sk-team-a\r\n"
                    + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":").getBytes(
                    StandardCharsets.UTF_8));
            out.flush();
            String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8); // to the close
            assertThat(answer).startsWith("HTTP/1.1 408").contains("request_timeout");
        }
        await(() -> gateway.inFlight() == 0);
    }

    @Test
    @DisplayName("A missing or unknown gateway key is a 401")
    void authentication() throws Exception {
        assertOpenAiError(post("/v1/chat/completions", null, chat("gpt-4o-mini", "")), 401);
        assertOpenAiError(post("/v1/chat/completions", "sk-wrong", chat("gpt-4o-mini", "")), 401);
        assertOpenAiError(get("/v1/models", "sk-wrong"), 401);
    }

    @Test
    @DisplayName("An upstream that does not answer in time is a 504; one that cannot be reached a 502")
    void upstreamFaults() throws Exception {
        HttpResponse<String> slow = post("/v1/chat/completions", "sk-team-a", chat("slow-model", ""));
        assertOpenAiError(slow, 504);
        assertThat(JSON.readTree(slow.body()).path("error").path("code").asText()).isEqualTo("upstream_timeout");
        HttpResponse<String> dead = post("/v1/chat/completions", "sk-team-a", chat("dead-model", ""));
        assertOpenAiError(dead, 502);
        assertThat(JSON.readTree(dead.body()).path("error").path("code").asText())
                .isEqualTo("upstream_unreachable");
    }

    @Test
    @DisplayName("A tenant past its share gets a 429 with Retry-After and x-ratelimit headers when the wait exceeds "
            + "the maximum; within it, the call waits and succeeds")
    void tenantLimits() throws Exception {
        assertThat(post("/v1/chat/completions", "sk-tiny", chat("gpt-4o-mini", "")).statusCode()).isEqualTo(200);
        assertThat(post("/v1/chat/completions", "sk-tiny", chat("gpt-4o-mini", "")).statusCode()).isEqualTo(200);
        long before = sim.stats().requests();
        HttpResponse<String> refused = post("/v1/chat/completions", "sk-tiny", chat("gpt-4o-mini", ""));
        assertOpenAiError(refused, 429);
        assertThat(sim.stats().requests()).isEqualTo(before);
        long retryAfter = Long.parseLong(refused.headers().firstValue("retry-after").orElseThrow());
        assertThat(retryAfter).isBetween(2L, 60L);
        assertThat(refused.headers().firstValue("x-ratelimit-limit-requests")).hasValue("2");
        assertThat(refused.headers().firstValue("x-ratelimit-remaining-requests")).hasValue("0");
        assertThat(refused.headers().firstValue("x-sluice-limited-by")).hasValue("tenant");
        // other tenants are not affected
        assertThat(post("/v1/chat/completions", "sk-team-a", chat("gpt-4o-mini", "")).statusCode()).isEqualTo(200);

        // one request per second: two at once, the second waits (within the 2 s maximum) instead of failing
        CompletableFuture<HttpResponse<String>> a = CompletableFuture.supplyAsync(() -> call("sk-waiter"));
        CompletableFuture<HttpResponse<String>> b = CompletableFuture.supplyAsync(() -> call("sk-waiter"));
        assertThat(a.get().statusCode()).isEqualTo(200);
        assertThat(b.get().statusCode()).isEqualTo(200);
    }

    private static HttpResponse<String> call(String key) {
        try {
            return post("/v1/chat/completions", key, chat("gpt-4o-mini", ""));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    @DisplayName("A deterministic request asked twice is answered from the cache the second time, with no upstream "
            + "call and no quota")
    void cacheHit() throws Exception {
        String body = chat("gpt-4o-mini", ",\"temperature\":0,\"max_tokens\":4000");
        HttpResponse<String> first = post("/v1/chat/completions", "sk-team-a", body);
        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(first.headers().firstValue("x-sluice-cache")).hasValue("miss");
        long upstreamBefore = sim.stats().requests();
        HttpResponse<String> second = post("/v1/chat/completions", "sk-team-a", body);
        assertThat(second.statusCode()).isEqualTo(200);
        assertThat(second.headers().firstValue("x-sluice-cache")).hasValue("hit");
        assertThat(second.body()).isEqualTo(first.body());
        assertThat(sim.stats().requests()).isEqualTo(upstreamBefore);
        // identical calls at once share one upstream call
        String fresh = chat("gpt-4o-mini", ",\"temperature\":0,\"max_tokens\":3999");
        List<CompletableFuture<HttpResponse<String>>> same = new java.util.ArrayList<>();
        for (int i = 0; i < 6; i++) {
            same.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return post("/v1/chat/completions", "sk-team-a", fresh);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        for (CompletableFuture<HttpResponse<String>> f : same) {
            assertThat(f.get().statusCode()).isEqualTo(200);
        }
        assertThat(sim.stats().requests()).isEqualTo(upstreamBefore + 1);
        // another tenant does not see team-a's answers
        HttpResponse<String> other = post("/v1/chat/completions", "sk-streamer", body);
        assertThat(other.headers().firstValue("x-sluice-cache")).hasValue("miss");
    }

    @Test
    @DisplayName("An upstream 429 cools the key down and the call is retried after the provider's wait")
    void upstream429() throws Exception {
        HttpResponse<String> r = post("/v1/chat/completions", "sk-team-a", chat("limited-model", ""));
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(stub.limitedCalls.get()).isEqualTo(2);
    }

    @Test
    @DisplayName("A client that leaves mid-stream cancels the upstream call, and the call is settled")
    void clientDisconnect() throws Exception {
        String body = chat("drip-model", ",\"stream\":true");
        try (Socket s = rawChat(gateway.port(), "sk-streamer", body)) {
            readAtLeast(s, 600);
        }
        await(stub.dripCancelled::get);
        int chunks = stub.dripChunks.get();
        assertThat(chunks).isLessThan(1500);
        await(() -> gateway.inFlight() == 0);
    }

    @Test
    @DisplayName("With max_tokens and max_completion_tokens both set, the larger is reserved, whichever it is")
    void bothOutputLimitsReserveTheLarger() throws Exception {
        for (String fields : List.of("\"max_tokens\":10,\"max_completion_tokens\":5000",
                "\"max_tokens\":5000,\"max_completion_tokens\":10")) {
            HttpResponse<String> r = post("/v1/chat/completions", "sk-capped", chat("gpt-4o-mini", "," + fields));
            assertOpenAiError(r, 400);
            assertThat(r.body()).as(fields).contains("request_too_large").contains("needs up to 50");
            String larger = fields.endsWith("5000") ? "max_completion_tokens" : "max_tokens";
            assertThat(JSON.readTree(r.body()).path("error").path("param").asText()).as(fields).isEqualTo(larger);
            assertThat(r.body()).as(fields).contains("Lower " + larger + " ");
        }
        HttpResponse<String> small = post("/v1/chat/completions", "sk-capped",
                chat("gpt-4o-mini", ",\"max_tokens\":10,\"max_completion_tokens\":20"));
        assertThat(small.statusCode()).as(small.body()).isEqualTo(200);
    }

    @Test
    @DisplayName("A completions batch reserves max_tokens for each answer of each prompt: the prompts of an array "
            + "(strings or token-id arrays; one array of token ids is one prompt) times the larger of n and best_of")
    void completionsBatchReservesEveryAnswer() throws Exception {
        // the tenant admits 1,000 tokens a day: 3 answers of 400 never fit, 1 does
        for (String batch : List.of("\"prompt\":[\"a\",\"b\",\"c\"]", "\"prompt\":[[1,2],[3,4],[5,6]]",
                "\"prompt\":\"a\",\"best_of\":3", "\"prompt\":[\"a\"],\"n\":2,\"best_of\":3")) {
            HttpResponse<String> r = post("/v1/completions", "sk-capped",
                    "{\"model\":\"gpt-3.5-turbo-instruct\",\"max_tokens\":400," + batch + "}");
            assertOpenAiError(r, 400);
            assertThat(r.body()).as(batch).contains("request_too_large").contains("needs up to 120");
        }
        HttpResponse<String> ids = post("/v1/completions", "sk-capped",
                "{\"model\":\"gpt-3.5-turbo-instruct\",\"max_tokens\":400,\"prompt\":[1,2,3]}");
        assertThat(ids.statusCode()).as("one prompt of token ids: %s", ids.body()).isEqualTo(200);
    }

    @Test
    @DisplayName("A Responses API call is governed on tokens: reserved from its instructions, input and "
            + "max_output_tokens, settled on the usage its answer reports (the last event of a stream), never cached")
    void responsesApi() throws Exception {
        // the tenant may use 3,000 tokens a day; each call reserves its 17 prompt tokens plus 2,500 for the answer
        String body = "{\"model\":\"gpt-4o-mini\",\"instructions\":\"You are terse.\",\"input\":\"Say hello\","
                + "\"temperature\":0,\"max_output_tokens\":%d%s}";
        long prompt = TokenEstimator.responsesInputTokens("o200k_base", JSON.readTree(body.formatted(1, "")), 0);
        assertThat(prompt).isEqualTo(3 + (3 + 1 + 4) + (3 + 1 + 2));
        long upstream = sim.stats().requests();
        HttpResponse<String> tooLarge = post("/v1/responses", "sk-responder", body.formatted(4000, ""));
        assertOpenAiError(tooLarge, 400);
        assertThat(tooLarge.body()).contains("request_too_large").contains("needs up to " + (prompt + 4000) + " ");
        assertThat(sim.stats().requests()).isEqualTo(upstream);

        double tokensBefore = tokensCounted("responder");
        HttpResponse<String> first = post("/v1/responses", "sk-responder", body.formatted(2500, ""));
        assertThat(first.statusCode()).as(first.body()).isEqualTo(200);
        JsonNode answer = JSON.readTree(first.body());
        assertThat(answer.path("object").asText()).isEqualTo("response");
        long used = answer.at("/usage/total_tokens").asLong();
        assertThat(used).isEqualTo(prompt + answer.at("/usage/output_tokens").asLong());
        assertThat(first.headers().firstValue("x-ratelimit-limit-tokens")).hasValue("3000");
        assertThat(first.headers().firstValue("x-sluice-cache")).isEmpty();
        assertThat(tokensCounted("responder") - tokensBefore).isEqualTo(used);
        // settled on its usage, so a second call of 2,517 fits; the same call again goes upstream, not to the cache
        HttpResponse<String> second = post("/v1/responses", "sk-responder", body.formatted(2500, ""));
        assertThat(second.statusCode()).as(second.body()).isEqualTo(200);
        assertThat(sim.stats().requests()).isEqualTo(upstream + 2);

        // streamed: relayed event by event, settled on the usage of response.completed (the upstream refuses the
        // include_usage a chat stream is given, so this call would fail if the gateway added it); every event that
        // carries the response repeats the client's metadata, which names another event's type here
        double beforeStream = tokensCounted("responder");
        HttpResponse<String> streamed = post("/v1/responses", "sk-responder", body.formatted(200,
                ",\"stream\":true,\"metadata\":{\"note\":\"response.created\"}"));
        assertThat(streamed.statusCode()).as(streamed.body()).isEqualTo(200);
        List<String> events = streamed.body().lines().filter(l -> l.startsWith("data: ")).toList();
        JsonNode completed = JSON.readTree(events.get(events.size() - 1).substring(6));
        assertThat(completed.path("type").asText()).isEqualTo("response.completed");
        assertThat(streamed.body()).contains("event: response.output_text.delta");
        long streamedUsage = completed.at("/response/usage/total_tokens").asLong();
        assertThat(streamedUsage).isGreaterThan(prompt + events.size()); // not what the chunks would have made it
        await(() -> tokensCounted("responder") - beforeStream == streamedUsage);

        HttpResponse<String> bad = post("/v1/responses", "sk-responder", "{\"model\":\"gpt-4o-mini\",\"input\":7}");
        assertOpenAiError(bad, 400);
        assertThat(bad.body()).contains("'input' must be a string or an array.");
        assertThat(sim.stats().requests()).isEqualTo(upstream + 3);
    }

    /** The tokens the gateway's metrics say {@code tenant} was charged. */
    private static double tokensCounted(String tenant) {
        try {
            return get("/metrics", null).body().lines().filter(l -> l.startsWith("sluice_gateway_tokens_total{")
                    && l.contains("tenant=\"" + tenant + "\"")).mapToDouble(l -> Double.parseDouble(
                            l.substring(l.lastIndexOf(' ') + 1))).sum();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    @DisplayName("Tool definitions count toward a chat call's estimate: definitions larger than a tenant's daily "
            + "share make the call too large, though its messages are short")
    void toolsCountTowardTheEstimate() throws Exception {
        String description = " x".repeat(1800); // 3,600 bytes (the body limit here is 4 KiB), about 1,800 tokens
        String tools = ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"t\",\"description\":\""
                + description + "\"}}],\"max_tokens\":10";
        HttpResponse<String> r = post("/v1/chat/completions", "sk-capped", chat("gpt-4o-mini", tools));
        assertOpenAiError(r, 400);
        assertThat(r.body()).contains("request_too_large");
    }

    @Test
    @DisplayName("Each image part of a chat call reserves its model's imageTokens: 1,445 by default, as configured "
            + "otherwise")
    void imagesCountTowardTheEstimate() throws Exception {
        String text = "{\"type\":\"text\",\"text\":\"What is this?\"}";
        String image = "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.invalid/cat.png\"}}";
        String messages = "[{\"role\":\"user\",\"content\":[" + text + "," + image + "]}]";
        long prompt = TokenEstimator.chatPromptTokens("o200k_base", JSON.readTree(
                "[{\"role\":\"user\",\"content\":[" + text + "]}]"));
        // the capped tenant may use 1,000 tokens a day: one image at the default is over it
        HttpResponse<String> r = post("/v1/chat/completions", "sk-capped",
                "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":" + messages + "}");
        assertOpenAiError(r, 400);
        assertThat(r.body()).contains("request_too_large").contains("needs up to " + (prompt + 1445 + 10) + " ");
        HttpResponse<String> small = post("/v1/chat/completions", "sk-capped",
                "{\"model\":\"vision-model\",\"max_tokens\":10,\"messages\":" + messages + "}");
        assertThat(small.statusCode()).as(small.body()).isEqualTo(200);
    }

    @Test
    @DisplayName("A cache leader whose client leaves while it waits for quota still makes its call for the identical "
            + "call waiting on it, which gets the answer, not a coalesced failure")
    void leaderThatLeavesStillAnswersItsFollowers() throws Exception {
        try (Gateway g = stubGateway("queue: {maxWait: 15s}", "sk-stub-5", ONE_PER.formatted("6s"), "ok-model",
                "shared: {keys: [{value: sk-shared}]}")) {
            assertThat(ReloadWhileWaitingTest.chat(g, "sk-shared", "ok-model", "").get().statusCode())
                    .isEqualTo(200); // the key is spent for 6 s
            String same = chat("ok-model", ",\"temperature\":0");
            Socket leader = rawChat(g.port(), "sk-shared", same);
            await(() -> g.waiting() == 1); // the leader waits for the key
            CompletableFuture<HttpResponse<String>> follower = ReloadWhileWaitingTest.chat(g, "sk-shared",
                    "ok-model", ",\"temperature\":0");
            await(() -> g.inFlight() == 2);
            Thread.sleep(300); // the follower joins the leader's flight
            leader.close();
            assertThat(g.waiting()).as("the leader was still waiting when its client left").isEqualTo(1);
            HttpResponse<String> r = follower.get();
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(r.headers().firstValue("x-sluice-cache")).contains("coalesced");
        }
    }

    @Test
    @DisplayName("A call retried after an upstream 429 costs its tenant one request, not one per attempt: a tenant "
            + "allowed 1 request a minute still gets its answer")
    void retryAfter429CostsTheTenantOnce() throws Exception {
        try (Gateway g = stubGateway("", "sk-stub-3", "{requestsPerMinute: 1000}", "once429-100-tenantonce",
                "single: {keys: [{value: sk-single}], limits: {requestsPerMinute: 1}}")) {
            HttpResponse<String> r = ReloadWhileWaitingTest.chat(g, "sk-single", "once429-100-tenantonce", "").get();
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(stub.received.stream().filter(x -> x.model().equals("once429-100-tenantonce")))
                    .as("the 429, then the answer").hasSize(2);
        }
    }

    @Test
    @DisplayName("Clients that leave while their calls wait for quota give up their places: with 2 places a tenant, "
            + "a third call still waits and is served, and the calls that left are never sent")
    void waitersThatLeaveGiveUpTheirPlaces() throws Exception {
        try (Gateway g = stubGateway("queue: {maxWait: 10s, maxWaitingPerTenant: 2}", "sk-stub-4",
                ONE_PER.formatted("3s"), "ok-model", "impatient: {keys: [{value: sk-gone}]}")) {
            long before = stub.received.stream().filter(x -> x.authorization().contains("sk-stub-4")).count();
            assertThat(ReloadWhileWaitingTest.chat(g, "sk-gone", "ok-model", "").get().statusCode()).isEqualTo(200);
            List<Socket> leaving = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                leaving.add(rawChat(g.port(), "sk-gone", chat("ok-model", "")));
            }
            await(() -> g.waiting() == 2); // both wait for the key
            for (Socket s : leaving) {
                s.close();
            }
            await(() -> g.inFlight() == 0);
            HttpResponse<String> third = ReloadWhileWaitingTest.chat(g, "sk-gone", "ok-model", "").get();
            assertThat(third.statusCode()).as(third.body()).isEqualTo(200);
            assertThat(stub.received.stream().filter(x -> x.authorization().contains("sk-stub-4")).count() - before)
                    .as("the first call and the third, not the two that left").isEqualTo(2);
        }
    }

    @Test
    @DisplayName("A client that leaves a stream is charged its prompt and what it received, not the output it did not"
            + " get: with max_tokens and max_completion_tokens both set, the share reserved is the larger")
    void leaverChargedWhatItGot() throws Exception {
        // 2,000 reserved for the answer (the larger of the two), about 20 for the prompt, out of 3,000 a day
        String body = chat("drip-model", ",\"stream\":true,\"max_tokens\":2000,\"max_completion_tokens\":10");
        try (Socket s = rawChat(gateway.port(), "sk-leaver", body)) {
            readAtLeast(s, 600);
        }
        await(() -> gateway.inFlight() == 0);
        // Charged its prompt and the few dozen chunks it got, about 2,900 remain: 2,500 more fit. Charged the 2,000
        // it never got (its share taken as the smaller 10), they would not, today or within the wait.
        HttpResponse<String> next = post("/v1/chat/completions", "sk-leaver",
                chat("gpt-4o-mini", ",\"max_tokens\":2500"));
        assertThat(next.statusCode()).as(next.body()).isEqualTo(200);
    }

    @Test
    @DisplayName("A client that leaves a Responses stream is charged its prompt and what it got; one that leaves a "
            + "background Responses stream is charged all it reserved, since the provider finishes a background "
            + "response whoever listens")
    void backgroundLeaverKeepsItsReservation() throws Exception {
        // 2,000 reserved for the answer, a few for the input, out of 3,000 a day each
        for (String key : List.of("sk-fg-leaver", "sk-bg-leaver")) {
            String body = "{\"model\":\"drip-model\",\"input\":\"Go on\",\"stream\":true,"
                    + "\"max_output_tokens\":2000" + (key.contains("bg") ? ",\"background\":true" : "") + "}";
            try (Socket s = rawPost(gateway.port(), "/v1/responses", key, body)) {
                readAtLeast(s, 600);
            }
            await(() -> gateway.inFlight() == 0);
        }
        // Charged what it got, about 2,900 remain: 2,500 more fit. Charged the 2,000 reserved, they would not, today
        // or within the wait.
        String next = chat("gpt-4o-mini", ",\"max_tokens\":2500");
        HttpResponse<String> foreground = post("/v1/chat/completions", "sk-fg-leaver", next);
        assertThat(foreground.statusCode()).as(foreground.body()).isEqualTo(200);
        HttpResponse<String> background = post("/v1/chat/completions", "sk-bg-leaver", next);
        assertThat(background.statusCode()).as(background.body()).isEqualTo(429);
        assertThat(background.headers().firstValue("x-sluice-limited-by")).hasValue("tenant");
    }

    @Test
    @DisplayName("A client that leaves before the upstream's answer begins cancels the upstream call at once, not when"
            + " the upstream timeout fires")
    void clientLeavesBeforeTheAnswer() throws Exception {
        try (Gateway g = patientGateway("silent-model", "impatient", "sk-impatient")) {
            int closed = stub.silentClosed.get();
            int received = stub.calls("silent-model");
            String body = chat("silent-model", "");
            try (Socket s = rawChat(g.port(), "sk-impatient", body)) {
                await(() -> stub.calls("silent-model") > received);
            }
            await(() -> stub.silentClosed.get() > closed);
            await(() -> g.inFlight() == 0);
        }
    }

    @Test
    @DisplayName("A client that leaves a call identical calls share (the cache's leader) does not cancel it: they get"
            + " its answer")
    void leaderLeavesASharedCall() throws Exception {
        try (Gateway g = patientGateway("hold-model", "sharing", "sk-sharing")) {
            String body = chat("hold-model", ",\"temperature\":0");
            int received = stub.calls("hold-model");
            CompletableFuture<HttpResponse<String>> follower;
            try (Socket s = rawChat(g.port(), "sk-sharing", body)) {
                await(() -> stub.calls("hold-model") > received);
                follower = http.sendAsync(HttpRequest.newBuilder(URI.create(g.baseUrl() + "/chat/completions"))
                        .timeout(Duration.ofSeconds(30)).header("authorization", "Bearer sk-sharing")
                        .header("content-type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
                await(() -> g.inFlight() == 2);
            }
            await(() -> g.inFlight() == 1); // the leader's client is gone; its call goes on for the follower
            stub.release();
            HttpResponse<String> answer = follower.get(30, TimeUnit.SECONDS);
            assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
            // coalesced if it joined the leader's call in time, else a hit on its stored answer: never its own call
            assertThat(answer.headers().firstValue("x-sluice-cache").orElse("")).isIn("coalesced", "hit");
            assertThat(stub.calls("hold-model")).isEqualTo(received + 1);
        }
    }

    @Test
    @DisplayName("A connection that never finishes its request's headers is closed after server.idleTimeout, even "
            + "while a byte keeps arriving now and then")
    void headersThatNeverEnd() throws Exception {
        try (Gateway g = patientGateway("ok-model", "idler", "sk-idler", ", idleTimeout: 300ms");
                Socket s = new Socket("127.0.0.1", g.port())) {
            s.setSoTimeout(100);
            s.getOutputStream().write("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nX-Trickle: ".getBytes(
                    StandardCharsets.UTF_8));
            boolean closed = false;
            for (int i = 0; i < 100 && !closed; i++) { // a byte every 100 ms for at most 10 s
                try {
                    s.getOutputStream().write('a');
                    closed = s.getInputStream().read() < 0;
                } catch (SocketTimeoutException stillOpen) {
                    // nothing to read yet: the gateway still holds the connection
                } catch (IOException reset) {
                    closed = true;
                }
            }
            assertThat(closed).as("closed by the gateway").isTrue();
        }
    }

    @Test
    @DisplayName("A call that waits longer than server.idleTimeout keeps its connection and is answered; the "
            + "connection is closed once it then idles for that long")
    void longCallKeepsItsConnection() throws Exception {
        try (Gateway g = patientGateway("hold-model", "holder", "sk-holder", ", idleTimeout: 300ms")) {
            int received = stub.calls("hold-model");
            try (Socket s = rawChat(g.port(), "sk-holder", chat("hold-model", ""))) {
                s.setSoTimeout(10_000);
                await(() -> stub.calls("hold-model") > received);
                Thread.sleep(1_000); // the idle timer fires about three times while the call is held
                stub.release();
                String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8); // to the close
                assertThat(answer).startsWith("HTTP/1.1 200").contains("chat.completion");
            }
        }
    }

    /** A provider key's limits of one request per {@code %s}. */
    private static final String ONE_PER =
            "{custom: [{dimension: requests, capacity: 1, period: %s, algorithm: sliding_log}]}";

    /**
     * A gateway of its own on the stub: {@code settings} (top-level YAML lines, or none), one stub key {@code stubKey}
     * with {@code limits}, one model, one tenant ({@code tenant}: its YAML entry), at most 2 retries after a 429.
     */
    private static Gateway stubGateway(String settings, String stubKey, String limits, String model, String tenant) {
        return Gateway.start(GatewayConfigParser.create().parse("""
                server: {port: 0, reloadInterval: 0}
                upstream: {timeout: 30s, maxRetries: 2}
                %s
                providers:
                  stub:
                    baseUrl: %s
                    keys: [{value: %s}]
                    limits: %s
                models:
                  %s: {provider: stub}
                tenants:
                  %s
                """.formatted(settings, stub.baseUrl(), stubKey, limits, model, tenant)));
    }

    /** A gateway of its own on the stub: one model, one tenant, an upstream timeout no test waits for. */
    private static Gateway patientGateway(String model, String tenant, String tenantKey) {
        return patientGateway(model, tenant, tenantKey, "");
    }

    /** {@link #patientGateway(String, String, String)} with more {@code server} settings, {@code ", name: value"}. */
    private static Gateway patientGateway(String model, String tenant, String tenantKey, String server) {
        return Gateway.start(GatewayConfigParser.create().parse("""
                server: {port: 0, reloadInterval: 0%s}
                upstream: {timeout: 5m}
                providers:
                  stub:
                    baseUrl: %s
                    keys: [{value: sk-stub-2}]
                    limits: {requestsPerMinute: 1000}
                models:
                  %s: {provider: stub}
                tenants:
                  %s: {keys: [{value: %s}]}
                """.formatted(server, stub.baseUrl(), model, tenant, tenantKey)));
    }

    /** A socket that has sent a chat call with {@code key}: closing it is the client leaving. */
    private static Socket rawChat(int port, String key, String body) throws Exception {
        return rawPost(port, "/v1/chat/completions", key, body);
    }

    private static Socket rawPost(int port, String path, String key, String body) throws Exception {
        Socket s = new Socket("127.0.0.1", port);
        s.getOutputStream().write(("POST " + path + " HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
                + key + "\r\nContent-Type: application/json\r\nContent-Length: "
                + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
        s.getOutputStream().flush();
        return s;
    }

    /** Reads at least {@code bytes} of the answer. */
    private static void readAtLeast(Socket s, int bytes) throws Exception {
        InputStream in = s.getInputStream();
        byte[] buf = new byte[4096];
        for (int total = 0; total < bytes; ) {
            int n = in.read(buf);
            assertThat(n).isPositive();
            total += n;
        }
    }
}

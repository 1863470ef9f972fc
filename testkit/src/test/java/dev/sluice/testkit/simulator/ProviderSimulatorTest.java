package dev.sluice.testkit.simulator;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.api.ManualTicker;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class ProviderSimulatorTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":%d,\"messages\":["
            + "{\"role\":\"system\",\"content\":\"You are terse.\"},{\"role\":\"user\",\"content\":\"%s\"}]%s}";

    private final HttpClient http = HttpClient.newHttpClient();
    private final List<ProviderSimulator> started = new ArrayList<>();

    @AfterEach
    void stop() {
        started.forEach(ProviderSimulator::close);
    }

    private ProviderSimulator start(ProviderSimulator.Builder b) {
        ProviderSimulator s = b.start();
        started.add(s);
        return s;
    }

    private HttpResponse<String> post(ProviderSimulator sim, String key, String body) throws Exception {
        return postAsync(sim, key, body).get();
    }

    private CompletableFuture<HttpResponse<String>> postAsync(ProviderSimulator sim, String key, String body) {
        HttpRequest req = HttpRequest.newBuilder(URI.create(sim.baseUrl() + "/chat/completions"))
                .header("authorization", "Bearer " + key)
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        return http.sendAsync(req, HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> postResponses(ProviderSimulator sim, String key, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(sim.baseUrl() + "/responses"))
                .header("authorization", "Bearer " + key).header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String chat(String prompt, int maxTokens) {
        return String.format(CHAT, maxTokens, prompt, "");
    }

    @Test
    @DisplayName("Answers an OpenAI chat request with deterministic content and usage")
    void deterministicAnswers() throws Exception {
        ProviderSimulator sim = start(ProviderSimulator.builder());
        HttpResponse<String> a = post(sim, "sk-a", chat("Say hello", 1000));
        HttpResponse<String> b = post(sim, "sk-a", chat("Say hello", 1000));
        assertThat(a.statusCode()).isEqualTo(200);
        JsonNode ja = JSON.readTree(a.body());
        JsonNode jb = JSON.readTree(b.body());
        assertThat(ja.at("/choices/0/message/content").asText()).isNotEmpty()
                .isEqualTo(jb.at("/choices/0/message/content").asText());
        assertThat(ja.get("usage")).isEqualTo(jb.get("usage"));
        // OpenAI's formula: 3 + per message (3 + role + content) on o200k_base.
        assertThat(ja.at("/usage/prompt_tokens").asLong()).isEqualTo(3 + (3 + 1 + 4) + (3 + 1 + 2));
        long completion = ja.at("/usage/completion_tokens").asLong();
        assertThat(completion).isBetween(16L, 128L);
        assertThat(ja.at("/usage/total_tokens").asLong()).isEqualTo(ja.at("/usage/prompt_tokens").asLong() + completion);
        assertThat(ja.at("/choices/0/finish_reason").asText()).isEqualTo("stop");

        HttpResponse<String> cut = post(sim, "sk-a", chat("Say hello", 5));
        JsonNode jc = JSON.readTree(cut.body());
        assertThat(jc.at("/usage/completion_tokens").asLong()).isEqualTo(5);
        assertThat(jc.at("/choices/0/finish_reason").asText()).isEqualTo("length");
    }

    @Test
    @DisplayName("Streams SSE chunks, then a final chunk with empty choices and the usage, then [DONE]")
    void streaming() throws Exception {
        ProviderSimulator sim = start(ProviderSimulator.builder());
        HttpResponse<String> json = post(sim, "sk-a", chat("Stream please", 100));
        HttpResponse<String> r = post(sim, "sk-a", String.format(CHAT, 100, "Stream please",
                ",\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).contains("text/event-stream");
        List<String> events = r.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertThat(events.get(events.size() - 1)).isEqualTo("[DONE]");
        JsonNode usage = JSON.readTree(events.get(events.size() - 2));
        assertThat(usage.get("choices")).isEmpty();
        assertThat(usage.get("usage")).isEqualTo(JSON.readTree(json.body()).get("usage"));
        StringBuilder content = new StringBuilder();
        for (String e : events.subList(0, events.size() - 2)) {
            content.append(JSON.readTree(e).at("/choices/0/delta/content").asText(""));
        }
        assertThat(content.toString()).isEqualTo(JSON.readTree(json.body()).at("/choices/0/message/content").asText());
        assertThat(sim.stats().streamed()).isEqualTo(1);

        HttpResponse<String> noUsage = post(sim, "sk-a", String.format(CHAT, 100, "Stream please",
                ",\"stream\":true"));
        assertThat(noUsage.body()).doesNotContain("\"usage\"").endsWith("data: [DONE]\n\n");
    }

    @Test
    @DisplayName("Over the requests window: 429 with OpenAI's headers and body, exact retry wait")
    void requestsWindowOpenAi() throws Exception {
        ManualTicker ticker = new ManualTicker();
        ProviderSimulator sim = start(ProviderSimulator.builder().ticker(ticker)
                .limits(SimulatorLimits.perMinute(2, 0)));
        assertThat(post(sim, "sk-a", chat("one", 10)).headers().firstValue("x-ratelimit-remaining-requests"))
                .contains("1");
        ticker.advance(Duration.ofSeconds(20));
        HttpResponse<String> second = post(sim, "sk-a", chat("two", 10));
        assertThat(second.statusCode()).isEqualTo(200);
        assertThat(second.headers().firstValue("x-ratelimit-limit-requests")).contains("2");
        assertThat(second.headers().firstValue("x-ratelimit-remaining-requests")).contains("0");
        assertThat(second.headers().firstValue("x-ratelimit-reset-requests")).contains("1m0s");

        HttpResponse<String> refused = post(sim, "sk-a", chat("three", 10));
        assertThat(refused.statusCode()).isEqualTo(429);
        assertThat(refused.headers().firstValue("retry-after")).contains("40");
        assertThat(refused.headers().firstValue("retry-after-ms")).contains("40000");
        JsonNode error = JSON.readTree(refused.body()).get("error");
        assertThat(error.get("code").asText()).isEqualTo("rate_limit_exceeded");
        assertThat(error.get("type").asText()).isEqualTo("requests");
        assertThat(error.get("message").asText()).contains("requests per min (RPM): Limit 2");
        // Another key has its own windows.
        assertThat(post(sim, "sk-b", chat("three", 10)).statusCode()).isEqualTo(200);

        ticker.advance(Duration.ofSeconds(40).minusNanos(1000));
        assertThat(post(sim, "sk-a", chat("three", 10)).statusCode()).isEqualTo(429);
        ticker.advance(Duration.ofNanos(1000));
        assertThat(post(sim, "sk-a", chat("three", 10)).statusCode()).isEqualTo(200);
        assertThat(sim.stats().rejectedRequests()).isEqualTo(2);
    }

    @Test
    @DisplayName("Over the tokens window: 429 of type tokens; a request larger than the window never fits")
    void tokensWindow() throws Exception {
        ManualTicker ticker = new ManualTicker();
        ProviderSimulator sim = start(ProviderSimulator.builder().ticker(ticker).completionTokens(50, 50)
                .limits(SimulatorLimits.perMinute(0, 120)));
        HttpResponse<String> first = post(sim, "sk-a", chat("hi", 100));
        long used = JSON.readTree(first.body()).at("/usage/total_tokens").asLong();
        assertThat(first.headers().firstValue("x-ratelimit-remaining-tokens")).contains(Long.toString(120 - used));
        ticker.advance(Duration.ofSeconds(1));
        HttpResponse<String> refused = post(sim, "sk-a", chat("hi", 100));
        assertThat(refused.statusCode()).isEqualTo(429);
        assertThat(JSON.readTree(refused.body()).at("/error/type").asText()).isEqualTo("tokens");
        assertThat(refused.headers().firstValue("retry-after-ms")).contains("59000");
        assertThat(post(sim, "sk-a", chat("x ".repeat(200), 100)).statusCode()).isEqualTo(429);
        assertThat(sim.stats().rejectedTokens()).isEqualTo(2);
    }

    @Test
    @DisplayName("chargesMaxTokens: a request is charged its prompt and all of its max_tokens (the completion bound"
            + " without one), not what it used")
    void chargesMaxTokens() throws Exception {
        ManualTicker ticker = new ManualTicker();
        ProviderSimulator sim = start(ProviderSimulator.builder().ticker(ticker).completionTokens(20, 30)
                .chargesMaxTokens(true).limits(SimulatorLimits.perMinute(0, 800)));
        HttpResponse<String> first = post(sim, "sk-a", chat("hi", 400));
        long prompt = JSON.readTree(first.body()).at("/usage/prompt_tokens").asLong();
        assertThat(JSON.readTree(first.body()).at("/usage/completion_tokens").asLong()).isBetween(20L, 30L);
        assertThat(first.headers().firstValue("x-ratelimit-remaining-tokens"))
                .contains(Long.toString(800 - prompt - 400));
        String unbounded = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":"
                + "\"You are terse.\"},{\"role\":\"user\",\"content\":\"hi\"}]}";
        HttpResponse<String> second = post(sim, "sk-a", unbounded);
        assertThat(second.headers().firstValue("x-ratelimit-remaining-tokens"))
                .contains(Long.toString(800 - prompt - 400 - prompt - 30));
        HttpResponse<String> refused = post(sim, "sk-a", chat("hi", 400));
        assertThat(refused.statusCode()).as("%s tokens left, %s asked", 800 - 2 * prompt - 430, prompt + 400)
                .isEqualTo(429);
        assertThat(JSON.readTree(refused.body()).at("/error/message").asText())
                .contains("Requested " + (prompt + 400));
    }

    @Test
    @DisplayName("Gemini dialect: 429 body with RESOURCE_EXHAUSTED, QuotaFailure and retryDelay, no headers")
    void geminiDialect() throws Exception {
        ManualTicker ticker = new ManualTicker();
        ProviderSimulator sim = start(ProviderSimulator.builder().ticker(ticker).dialect(Dialect.GEMINI)
                .limits(SimulatorLimits.perMinute(1, 0).withRequestsPerDay(2, Duration.ofDays(1))));
        assertThat(post(sim, "k", chat("a", 10)).headers().firstValue("x-ratelimit-limit-requests")).isEmpty();
        ticker.advance(Duration.ofMillis(17_500));
        HttpResponse<String> r = post(sim, "k", chat("b", 10));
        assertThat(r.statusCode()).isEqualTo(429);
        JsonNode error = JSON.readTree(r.body()).get("error");
        assertThat(error.get("status").asText()).isEqualTo("RESOURCE_EXHAUSTED");
        assertThat(error.at("/details/0/violations/0/quotaId").asText())
                .isEqualTo("GenerateRequestsPerMinutePerProjectPerModel-FreeTier");
        assertThat(error.at("/details/2/retryDelay").asText()).isEqualTo("42.5s");
        ticker.advance(Duration.ofSeconds(60));
        assertThat(post(sim, "k", chat("b", 10)).statusCode()).isEqualTo(200);
        ticker.advance(Duration.ofSeconds(60));
        HttpResponse<String> daily = post(sim, "k", chat("c", 10));
        assertThat(daily.statusCode()).isEqualTo(429);
        assertThat(JSON.readTree(daily.body()).at("/error/details/0/violations/0/quotaId").asText())
                .isEqualTo("GenerateRequestsPerDayPerProjectPerModel-FreeTier");
        assertThat(sim.stats().rejectedDaily()).isEqualTo(1);
    }

    @Test
    @DisplayName("Concurrency: a request beyond the limit in progress is refused; the slot frees on completion")
    void concurrency() throws Exception {
        ProviderSimulator sim = start(ProviderSimulator.builder().latency(Duration.ofSeconds(2))
                .limits(SimulatorLimits.none().withConcurrent(1)));
        CompletableFuture<HttpResponse<String>> slow = postAsync(sim, "k", chat("slow", 10));
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (sim.stats().admitted() == 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        HttpResponse<String> refused = post(sim, "k", chat("fast", 10));
        assertThat(refused.statusCode()).isEqualTo(429);
        assertThat(slow.get().statusCode()).isEqualTo(200);
        sim.setLatency(Duration.ZERO);
        assertThat(post(sim, "k", chat("fast", 10)).statusCode()).isEqualTo(200);
        assertThat(sim.stats().rejectedConcurrency()).isEqualTo(1);
        assertThat(sim.stats().maxInFlight()).isEqualTo(1);
    }

    @Test
    @DisplayName("Malformed requests get 400, keys starting sk-invalid get 401, other paths 404")
    void errors() throws Exception {
        ProviderSimulator sim = start(ProviderSimulator.builder());
        assertThat(post(sim, "k", "{not json").statusCode()).isEqualTo(400);
        assertThat(post(sim, "k", "{\"model\":\"m\",\"messages\":[]}").statusCode()).isEqualTo(400);
        assertThat(post(sim, "sk-invalid-1", chat("a", 1)).statusCode()).isEqualTo(401);
        HttpResponse<String> notFound = http.send(HttpRequest.newBuilder(URI.create(sim.baseUrl() + "/models"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(notFound.statusCode()).isEqualTo(404);
        assertThat(sim.stats().otherErrors()).isEqualTo(4);
    }

    @Test
    @DisplayName("The Responses API: instructions and input counted as the chat's system and user messages, the "
            + "answer bounded by max_output_tokens, usage as input/output/total tokens; a stream of typed events ends "
            + "in response.completed with the usage; include_usage is refused; calls share the key's windows with chat")
    void responsesApi() throws Exception {
        ProviderSimulator sim = start(ProviderSimulator.builder());
        String asChat = chat("Say hello", 1000);
        String asResponse = "{\"model\":\"gpt-4o-mini\",\"instructions\":\"You are terse.\","
                + "\"input\":\"Say hello\",\"max_output_tokens\":%d%s}";
        JsonNode c = JSON.readTree(post(sim, "sk-a", asChat).body());
        HttpResponse<String> r = postResponses(sim, "sk-a", String.format(asResponse, 1000, ""));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode j = JSON.readTree(r.body());
        assertThat(j.path("object").asText()).isEqualTo("response");
        assertThat(j.path("status").asText()).isEqualTo("completed");
        assertThat(j.at("/usage/input_tokens").asLong()).isEqualTo(c.at("/usage/prompt_tokens").asLong());
        long out = j.at("/usage/output_tokens").asLong();
        assertThat(out).isBetween(16L, 128L);
        assertThat(j.at("/usage/total_tokens").asLong()).isEqualTo(j.at("/usage/input_tokens").asLong() + out);
        assertThat(j.at("/output/0/content/0/text").asText().split(" ")).hasSize((int) out);
        // the same input as an array of message items, and a function call's output counted as its JSON text
        String items = "{\"model\":\"gpt-4o-mini\",\"input\":[{\"role\":\"system\",\"content\":\"You are "
                + "terse.\"},{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
                + "\"text\":\"Say hello\"}]}%s]}";
        JsonNode k = JSON.readTree(postResponses(sim, "sk-a", String.format(items, "")).body());
        assertThat(k.at("/usage/input_tokens").asLong()).isEqualTo(c.at("/usage/prompt_tokens").asLong());
        String call = ",{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"42\"}";
        JsonNode f = JSON.readTree(postResponses(sim, "sk-a", String.format(items, call)).body());
        assertThat(f.at("/usage/input_tokens").asLong()).isGreaterThan(k.at("/usage/input_tokens").asLong() + 5);

        JsonNode cut = JSON.readTree(postResponses(sim, "sk-a", String.format(asResponse, 5, "")).body());
        assertThat(cut.path("status").asText()).isEqualTo("incomplete");
        assertThat(cut.at("/incomplete_details/reason").asText()).isEqualTo("max_output_tokens");
        assertThat(cut.at("/usage/output_tokens").asLong()).isEqualTo(5);

        HttpResponse<String> s = postResponses(sim, "sk-a", String.format(asResponse, 1000, ",\"stream\":true"));
        List<String> data = s.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        List<String> types = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        for (String d : data) {
            JsonNode e = JSON.readTree(d);
            types.add(e.path("type").asText());
            text.append(e.path("delta").asText(""));
        }
        assertThat(types.get(0)).isEqualTo("response.created");
        assertThat(JSON.readTree(data.get(0)).at("/response/usage").isNull()).isTrue();
        assertThat(types.get(1)).isEqualTo("response.in_progress");
        assertThat(types.subList(2, types.size() - 1)).isNotEmpty().containsOnly("response.output_text.delta");
        assertThat(types.get(types.size() - 1)).isEqualTo("response.completed");
        JsonNode last = JSON.readTree(data.get(data.size() - 1)).path("response");
        assertThat(last.get("usage")).isEqualTo(j.get("usage"));
        assertThat(text.toString()).isEqualTo(j.at("/output/0/content/0/text").asText());
        assertThat(s.body()).doesNotContain("[DONE]");

        HttpResponse<String> refused = postResponses(sim, "sk-a", String.format(asResponse, 10,
                ",\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
        assertThat(refused.statusCode()).isEqualTo(400);
        assertThat(refused.body()).contains("stream_options.include_usage");
        assertThat(postResponses(sim, "sk-a", "{\"model\":\"gpt-4o-mini\"}").statusCode()).isEqualTo(400);

        // one window for both APIs: two requests a minute, one chat then one response, and the third call is refused
        ProviderSimulator two = start(ProviderSimulator.builder().limits(SimulatorLimits.perMinute(2, 0)));
        assertThat(post(two, "sk-b", asChat).statusCode()).isEqualTo(200);
        assertThat(postResponses(two, "sk-b", String.format(asResponse, 10, "")).statusCode()).isEqualTo(200);
        assertThat(postResponses(two, "sk-b", String.format(asResponse, 10, "")).statusCode()).isEqualTo(429);
    }

    @Test
    @DisplayName("Stored responses belong to the API key that made them: only it may read one or chain to it "
            + "(previous_response_id); another key gets a 404, as another project would; store:false keeps nothing")
    void storedResponsesPerKey() throws Exception {
        ProviderSimulator sim = start(ProviderSimulator.builder());
        String id = JSON.readTree(postResponses(sim, "sk-a", "{\"model\":\"m\",\"input\":\"hi\"}").body())
                .path("id").asText();
        assertThat(id).startsWith("resp_");
        HttpResponse<String> own = http.send(HttpRequest.newBuilder(URI.create(sim.baseUrl() + "/responses/" + id))
                .header("authorization", "Bearer sk-a").build(), HttpResponse.BodyHandlers.ofString());
        assertThat(own.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(own.body()).path("id").asText()).isEqualTo(id);
        HttpResponse<String> other = http.send(HttpRequest.newBuilder(URI.create(sim.baseUrl() + "/responses/" + id))
                .header("authorization", "Bearer sk-b").build(), HttpResponse.BodyHandlers.ofString());
        assertThat(other.statusCode()).isEqualTo(404);
        String chained = "{\"model\":\"m\",\"input\":\"and?\",\"previous_response_id\":\"" + id + "\"}";
        HttpResponse<String> wrongKey = postResponses(sim, "sk-b", chained);
        assertThat(wrongKey.statusCode()).isEqualTo(404);
        assertThat(wrongKey.body()).contains("previous_response_not_found");
        assertThat(postResponses(sim, "sk-a", chained).statusCode()).isEqualTo(200);
        String unstored = JSON.readTree(postResponses(sim, "sk-a", "{\"model\":\"m\",\"input\":\"x\","
                + "\"store\":false}").body()).path("id").asText();
        assertThat(postResponses(sim, "sk-a", chained.replace(id, unstored)).statusCode()).isEqualTo(404);
    }

    @Test
    @DisplayName("Durations are written as OpenAI and Gemini write them")
    void durationFormats() {
        assertThat(ProviderSimulator.openAiDuration(20_000)).isEqualTo("20ms");
        assertThat(ProviderSimulator.openAiDuration(1_500_000)).isEqualTo("1.5s");
        assertThat(ProviderSimulator.openAiDuration(360_000_000)).isEqualTo("6m0s");
        assertThat(ProviderSimulator.openAiDuration(3_723_000_000L)).isEqualTo("1h2m3s");
        assertThat(ProviderSimulator.geminiSeconds(43_000_000)).isEqualTo("43s");
        assertThat(ProviderSimulator.geminiSeconds(436_100)).isEqualTo("0.437s");
        assertThat(ProviderSimulator.parseDuration("250ms")).isEqualTo(Duration.ofMillis(250));
        assertThat(ProviderSimulator.parseDuration("PT1M")).isEqualTo(Duration.ofMinutes(1));
    }
}

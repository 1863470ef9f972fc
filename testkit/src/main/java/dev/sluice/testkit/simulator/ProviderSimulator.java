package dev.sluice.testkit.simulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.api.Ticker;
import dev.sluice.core.Durations;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * A strict LLM provider on a loopback port: an OpenAI-compatible {@code POST /v1/chat/completions} and {@code POST
 * /v1/responses} (any path ending in {@code /chat/completions} or {@code /responses} is accepted) that answer
 * deterministically and enforce {@link SimulatorLimits} per API key over exact sliding windows, answering 429 in the
 * chosen {@link Dialect}.
 *
 * <pre>{@code
 * try (ProviderSimulator sim = ProviderSimulator.builder()
 *         .limits(SimulatorLimits.perMinute(20, 20_000).withWindow(Duration.ofSeconds(1)))
 *         .latency(Duration.ofMillis(20))
 *         .start()) {
 *     String baseUrl = sim.baseUrl(); // http://127.0.0.1:PORT/v1
 * }
 * }</pre>
 *
 * <p>Answers: the completion length is drawn from a hash of the model and messages (so the same request always gets
 * the same answer and usage), between the configured bounds and never above {@code max_tokens}
 * ({@code finish_reason} {@code length} when cut). Prompt tokens follow {@link ChatTokens}. A request is charged its
 * actual usage (prompt + completion) on the token window when admitted, or, with {@link Builder#chargesMaxTokens},
 * its prompt and all of its {@code max_tokens} (the completion bound when it names none), as OpenAI documents.
 * Streaming ({@code "stream": true}) sends SSE chunks and, when {@code stream_options.include_usage} is true, a final
 * chunk with empty choices and the usage, as OpenAI does, then {@code data: [DONE]}.
 *
 * <p>The Responses API: {@code input} (a string or an array of items) and {@code instructions} are counted by the
 * chat formula ({@link ChatTokens}), {@code max_output_tokens} bounds the answer, and the usage reads {@code
 * input_tokens}, {@code output_tokens} and {@code total_tokens}. A stream is a series of typed events ending in
 * {@code response.completed} (or {@code response.incomplete} when cut) with the whole response and its usage; {@code
 * stream_options.include_usage} is refused with a 400, as OpenAI refuses it there. Responses are stored per API key
 * (unless {@code "store": false}; the latest 10,000): {@code GET /v1/responses/{id}} answers the key that made one,
 * and a {@code previous_response_id} another key did not make is a 404 {@code previous_response_not_found}, as a
 * provider's other project or organization answers; the previous response's context is not counted, and an
 * {@code input} is required.
 *
 * <p>Errors: 400 for a body that is not a chat request, 401 for an API key starting with {@code sk-invalid}, 404 for
 * other paths. Thread-safe; the limits may be changed while running.
 */
public final class ProviderSimulator implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] WORDS = {"the", "river", "flows", "through", "a", "narrow", "gate", "and", "water",
        "keeps", "its", "pace", "while", "stones", "hold", "steady"};

    private final Builder config;
    private final Ticker ticker;
    private final Vertx vertx;
    private final Map<String, KeyWindows> windows = new HashMap<>();
    private final Map<String, SimulatorLimits> keyLimits = new ConcurrentHashMap<>();
    private volatile SimulatorLimits limits;
    private volatile Duration latency;
    private final AtomicLong ids = new AtomicLong();
    /** Stored responses by id, with the API key that made them: the most recent {@value #STORED} only. */
    private final Map<String, Stored> stored = new java.util.LinkedHashMap<>() {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Stored> eldest) {
            return size() > STORED;
        }
    };
    private static final int STORED = 10_000;

    private record Stored(String apiKey, String json) {
    }
    private @Nullable HttpServer server;

    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong admitted = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong rejectedConcurrency = new AtomicLong();
    private final AtomicLong rejectedRequests = new AtomicLong();
    private final AtomicLong rejectedTokens = new AtomicLong();
    private final AtomicLong rejectedDaily = new AtomicLong();
    private final AtomicLong otherErrors = new AtomicLong();
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong completionTokens = new AtomicLong();
    private final AtomicLong streamed = new AtomicLong();
    private final AtomicLong maxInFlight = new AtomicLong();

    private ProviderSimulator(Builder b) {
        this.config = b;
        this.ticker = b.ticker;
        this.limits = b.limits;
        this.latency = b.latency;
        this.keyLimits.putAll(b.keyLimits);
        this.vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1).setWorkerPoolSize(1));
    }

    /** A builder; {@link Builder#start()} starts the server. */
    public static Builder builder() {
        return new Builder();
    }

    private ProviderSimulator listen() {
        HttpServerOptions options = new HttpServerOptions().setHost("127.0.0.1").setPort(config.port);
        HttpServer s = vertx.createHttpServer(options).requestHandler(this::handle);
        try {
            this.server = s.listen().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            vertx.close();
            throw new IllegalStateException("interrupted while starting the simulator", e);
        } catch (ExecutionException | TimeoutException e) {
            vertx.close();
            throw new IllegalStateException("the simulator could not listen on 127.0.0.1:" + config.port, e);
        }
        return this;
    }

    /** The port it listens on. */
    public int port() {
        return Objects.requireNonNull(server, "not started").actualPort();
    }

    /** The OpenAI-style base URL, {@code http://127.0.0.1:PORT/v1}. */
    public String baseUrl() {
        return "http://127.0.0.1:" + port() + "/v1";
    }

    /** The limits every key without its own limits gets. */
    public SimulatorLimits limits() {
        return limits;
    }

    /**
     * Changes the limits of every key without its own limits. What was consumed under a limit stays counted; a
     * dimension that had no limit starts counting when it gets one.
     */
    public void setLimits(SimulatorLimits limits) {
        this.limits = Objects.requireNonNull(limits, "limits");
    }

    /** Changes the delay before each answer. */
    public void setLatency(Duration latency) {
        this.latency = Objects.requireNonNull(latency, "latency");
    }

    /** What it saw so far. */
    public SimulatorStats stats() {
        return new SimulatorStats(requests.get(), admitted.get(), rejected.get(), rejectedConcurrency.get(),
                rejectedRequests.get(), rejectedTokens.get(), rejectedDaily.get(), otherErrors.get(),
                promptTokens.get(), completionTokens.get(), streamed.get(), maxInFlight.get());
    }

    /** Forgets every window and counter (requests in progress still finish). */
    public void reset() {
        synchronized (windows) {
            windows.clear();
        }
        for (AtomicLong c : new AtomicLong[] {requests, admitted, rejected, rejectedConcurrency, rejectedRequests,
            rejectedTokens, rejectedDaily, otherErrors, promptTokens, completionTokens, streamed, maxInFlight}) {
            c.set(0);
        }
    }

    /** Stops the server and its event loop. */
    @Override
    public void close() {
        try {
            vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // closing anyway
        }
    }

    private SimulatorLimits limitsOf(String key) {
        SimulatorLimits l = keyLimits.get(key);
        return l != null ? l : limits;
    }

    private void handle(HttpServerRequest req) {
        int r = req.path().lastIndexOf("/responses/");
        if (req.method() == HttpMethod.GET && r >= 0 && req.path().indexOf('/', r + 11) < 0) {
            storedResponse(req, req.path().substring(r + 11));
            return;
        }
        boolean responses = req.path().endsWith("/responses");
        if (req.method() != HttpMethod.POST || !(responses || req.path().endsWith("/chat/completions"))) {
            otherErrors.incrementAndGet();
            sendError(req.response(), 404, "Unknown request URL: " + req.method() + " " + req.path(),
                    "invalid_request_error", "unknown_url");
            return;
        }
        // The request is stamped when it arrives, before its body is read and its tokens counted.
        long arrived = ticker.nowMicros();
        req.body().onSuccess(body -> call(req, body, arrived, responses)).onFailure(e -> req.response().reset());
    }

    /** A chat call, or with {@code responses} a Responses API call: admitted on the key's windows, then answered. */
    private void call(HttpServerRequest req, Buffer body, long arrived, boolean responses) {
        requests.incrementAndGet();
        HttpServerResponse resp = req.response();
        JsonNode json;
        try {
            json = JSON.readTree(body.toString(StandardCharsets.UTF_8));
        } catch (Exception e) {
            otherErrors.incrementAndGet();
            sendError(resp, 400, "We could not parse the JSON body of your request.", "invalid_request_error", null);
            return;
        }
        String invalid = responses ? invalidResponsesCall(json) : invalidChatCall(json);
        if (invalid != null) {
            otherErrors.incrementAndGet();
            sendError(resp, 400, invalid, "invalid_request_error", null);
            return;
        }
        String key = apiKey(req);
        if (key.startsWith("sk-invalid")) {
            otherErrors.incrementAndGet();
            sendError(resp, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key");
            return;
        }
        JsonNode previous = json.path("previous_response_id");
        if (responses && previous.isTextual() && storedFor(key, previous.asText()) == null) {
            otherErrors.incrementAndGet();
            sendError(resp, 404, "Previous response with id '" + previous.asText() + "' not found.",
                    "invalid_request_error", "previous_response_id", "previous_response_not_found");
            return;
        }
        String model = json.get("model").asText();
        long prompt = responses ? ChatTokens.responsesInputTokens(model, json)
                : ChatTokens.promptTokens(model, json.get("messages"));
        long maxTokens = responses ? json.path("max_output_tokens").asLong(0)
                : json.has("max_completion_tokens") ? json.get("max_completion_tokens").asLong()
                : json.path("max_tokens").asLong(0);
        long seed = seed(json, responses ? new String[] {"instructions", "input"} : new String[] {"messages"});
        long span = config.maxCompletion - config.minCompletion + 1;
        long natural = config.minCompletion + Math.floorMod(seed, span);
        long completion = maxTokens > 0 ? Math.min(maxTokens, natural) : natural;
        boolean cut = maxTokens > 0 && natural > maxTokens;
        long charged = prompt + (!config.chargesMaxTokens ? completion
                : maxTokens > 0 ? maxTokens : config.maxCompletion);

        SimulatorLimits l = limitsOf(key);
        long now = arrived;
        KeyWindows.Admission a;
        KeyWindows w;
        long remainingRequests;
        long remainingTokens;
        long resetRequests;
        long resetTokens;
        synchronized (windows) {
            w = windows.computeIfAbsent(key, k -> new KeyWindows());
            a = w.admit(l, charged, now);
            if (a.refusal() == null) {
                maxInFlight.accumulateAndGet(w.inFlight, Math::max);
            }
            remainingRequests = w.remainingRequests(l, now);
            remainingTokens = w.remainingTokens(l, now);
            resetRequests = w.resetRequestsMicros(l, now);
            resetTokens = w.resetTokensMicros(l, now);
        }
        if (config.dialect == Dialect.OPENAI) {
            if (l.requests() > 0) {
                resp.putHeader("x-ratelimit-limit-requests", Long.toString(l.requests()));
                resp.putHeader("x-ratelimit-remaining-requests", Long.toString(remainingRequests));
                resp.putHeader("x-ratelimit-reset-requests", openAiDuration(resetRequests));
            }
            if (l.tokens() > 0) {
                resp.putHeader("x-ratelimit-limit-tokens", Long.toString(l.tokens()));
                resp.putHeader("x-ratelimit-remaining-tokens", Long.toString(remainingTokens));
                resp.putHeader("x-ratelimit-reset-tokens", openAiDuration(resetTokens));
            }
        }
        if (a.refusal() != null) {
            refuse(resp, model, l, a, charged);
            return;
        }
        admitted.incrementAndGet();
        promptTokens.addAndGet(prompt);
        completionTokens.addAndGet(completion);
        AtomicBoolean released = new AtomicBoolean();
        KeyWindows held = w;
        Runnable release = () -> {
            if (released.compareAndSet(false, true)) {
                synchronized (windows) {
                    held.inFlight--;
                }
            }
        };
        resp.closeHandler(v -> release.run());
        boolean stream = json.path("stream").asBoolean(false);
        boolean includeUsage = json.path("stream_options").path("include_usage").asBoolean(false);
        Runnable answer = () -> {
            // The answer is generated: its slot frees before it is written, so a client that calls again as soon as
            // it has read the answer never finds the slot still taken.
            release.run();
            if (stream) {
                streamed.incrementAndGet();
            }
            if (responses) {
                ObjectNode done = response(model, seed, prompt, completion, cut);
                // as OpenAI, the response repeats the request's own fields, whatever text they hold
                for (String field : new String[] {"instructions", "metadata", "user"}) {
                    if (json.has(field)) {
                        done.set(field, json.get(field));
                    }
                }
                if (json.path("store").asBoolean(true)) {
                    synchronized (stored) {
                        stored.put(done.get("id").asText(), new Stored(key, done.toString()));
                    }
                }
                if (stream) {
                    streamResponse(resp, done, seed, completion);
                } else {
                    resp.putHeader("content-type", "application/json").end(done.toString());
                }
            } else if (stream) {
                stream(resp, model, seed, prompt, completion, cut, includeUsage);
            } else {
                complete(resp, model, seed, prompt, completion, cut);
            }
        };
        long delayMs = latency.toMillis();
        if (delayMs <= 0) {
            answer.run();
        } else {
            vertx.setTimer(delayMs, id -> answer.run());
        }
    }

    private static String apiKey(HttpServerRequest req) {
        String auth = req.getHeader("authorization");
        if (auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return auth.substring(7).trim();
        }
        String goog = req.getHeader("x-goog-api-key");
        if (goog != null) {
            return goog.trim();
        }
        String apiKey = req.getHeader("x-api-key");
        return apiKey != null ? apiKey.trim() : "anonymous";
    }

    /** The JSON of the response {@code id} if {@code apiKey} made it and it is still kept, else null. */
    private @Nullable String storedFor(String apiKey, String id) {
        synchronized (stored) {
            Stored s = stored.get(id);
            return s != null && s.apiKey().equals(apiKey) ? s.json() : null;
        }
    }

    /** {@code GET .../responses/{id}}: the stored response, to the key that made it; 404 to any other. */
    private void storedResponse(HttpServerRequest req, String id) {
        String json = storedFor(apiKey(req), id);
        if (json == null) {
            otherErrors.incrementAndGet();
            sendError(req.response(), 404, "Response with id '" + id + "' not found.", "invalid_request_error",
                    null);
            return;
        }
        req.response().putHeader("content-type", "application/json").end(json);
    }

    /** Why a body is not a chat call, or null. */
    private static @Nullable String invalidChatCall(@Nullable JsonNode json) {
        return json == null || !json.path("model").isTextual() || !json.path("messages").isArray()
                || json.path("messages").isEmpty() ? "A chat request needs a 'model' and a non-empty 'messages' array."
                : null;
    }

    /**
     * Why a body is not a Responses API call this simulator answers, or null: an {@code input} is required (a
     * previous response's context is not counted); and, as OpenAI's Responses API, it refuses
     * {@code stream_options.include_usage}, a chat-only parameter (its streams always end in a
     * {@code response.completed} event with the usage).
     */
    private static @Nullable String invalidResponsesCall(@Nullable JsonNode json) {
        if (json == null || !json.path("model").isTextual()) {
            return "A responses request needs a 'model'.";
        }
        JsonNode input = json.path("input");
        if (!input.isTextual() && !(input.isArray() && !input.isEmpty())) {
            return "A responses request needs an 'input': a string or a non-empty array.";
        }
        if (json.path("stream_options").has("include_usage")) {
            return "Unknown parameter: 'stream_options.include_usage'.";
        }
        return null;
    }

    private static long seed(JsonNode json, String[] fields) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(json.get("model").asText().getBytes(StandardCharsets.UTF_8));
            for (String f : fields) {
                md.update(JSON.writeValueAsBytes(json.path(f)));
            }
            byte[] h = md.digest();
            long s = 0;
            for (int i = 0; i < 8; i++) {
                s = (s << 8) | (h[i] & 0xff);
            }
            return s;
        } catch (NoSuchAlgorithmException | com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private String text(long seed, long tokens) {
        StringBuilder sb = new StringBuilder();
        long s = seed;
        for (long i = 0; i < tokens; i++) {
            s = s * 6364136223846793005L + 1442695040888963407L;
            sb.append(i == 0 ? "" : " ").append(WORDS[(int) ((s >>> 33) % WORDS.length)]);
        }
        return sb.toString();
    }

    private void complete(HttpServerResponse resp, String model, long seed, long prompt, long completion,
            boolean cut) {
        ObjectNode root = JSON.createObjectNode();
        root.put("id", "chatcmpl-sim-" + ids.incrementAndGet());
        root.put("object", "chat.completion");
        root.put("created", System.currentTimeMillis() / 1000);
        root.put("model", model);
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode message = choice.putObject("message");
        message.put("role", "assistant");
        message.put("content", text(seed, completion));
        choice.putNull("logprobs");
        choice.put("finish_reason", cut ? "length" : "stop");
        usage(root.putObject("usage"), prompt, completion);
        resp.putHeader("content-type", "application/json").end(root.toString());
    }

    private void stream(HttpServerResponse resp, String model, long seed, long prompt, long completion, boolean cut,
            boolean includeUsage) {
        String id = "chatcmpl-sim-" + ids.incrementAndGet();
        long created = System.currentTimeMillis() / 1000;
        resp.setChunked(true).putHeader("content-type", "text/event-stream").putHeader("cache-control", "no-cache");
        StringBuilder out = new StringBuilder();
        ObjectNode first = chunk(id, created, model);
        ObjectNode d0 = ((ObjectNode) first.withArray("choices").get(0)).putObject("delta");
        d0.put("role", "assistant");
        d0.put("content", "");
        out.append("data: ").append(first).append("\n\n");
        String[] words = text(seed, completion).split(" ");
        int pieces = Math.min(4, words.length);
        for (int p = 0; p < pieces; p++) {
            int from = p * words.length / pieces;
            int to = (p + 1) * words.length / pieces;
            StringBuilder piece = new StringBuilder();
            for (int i = from; i < to; i++) {
                piece.append(i == 0 ? "" : " ").append(words[i]);
            }
            ObjectNode c = chunk(id, created, model);
            ((ObjectNode) c.withArray("choices").get(0)).putObject("delta").put("content", piece.toString());
            out.append("data: ").append(c).append("\n\n");
        }
        ObjectNode last = chunk(id, created, model);
        ObjectNode lastChoice = (ObjectNode) last.withArray("choices").get(0);
        lastChoice.putObject("delta");
        lastChoice.put("finish_reason", cut ? "length" : "stop");
        out.append("data: ").append(last).append("\n\n");
        if (includeUsage) {
            ObjectNode u = JSON.createObjectNode();
            u.put("id", id);
            u.put("object", "chat.completion.chunk");
            u.put("created", created);
            u.put("model", model);
            u.putArray("choices");
            usage(u.putObject("usage"), prompt, completion);
            out.append("data: ").append(u).append("\n\n");
        }
        out.append("data: [DONE]\n\n");
        resp.write(out.toString());
        resp.end();
    }

    /** A Responses API response object: one assistant message, {@code incomplete} when cut at the output limit. */
    private ObjectNode response(String model, long seed, long prompt, long completion, boolean cut) {
        long n = ids.incrementAndGet();
        ObjectNode r = JSON.createObjectNode();
        r.put("id", "resp_sim_" + n);
        r.put("object", "response");
        r.put("created_at", System.currentTimeMillis() / 1000);
        r.put("status", cut ? "incomplete" : "completed");
        if (cut) {
            r.putObject("incomplete_details").put("reason", "max_output_tokens");
        } else {
            r.putNull("incomplete_details");
        }
        r.put("model", model);
        ObjectNode message = r.putArray("output").addObject();
        message.put("type", "message");
        message.put("id", "msg_sim_" + n);
        message.put("status", cut ? "incomplete" : "completed");
        message.put("role", "assistant");
        ObjectNode part = message.putArray("content").addObject();
        part.put("type", "output_text");
        part.put("text", text(seed, completion));
        part.putArray("annotations");
        ObjectNode u = r.putObject("usage");
        u.put("input_tokens", prompt);
        u.putObject("input_tokens_details").put("cached_tokens", 0);
        u.put("output_tokens", completion);
        u.putObject("output_tokens_details").put("reasoning_tokens", 0);
        u.put("total_tokens", prompt + completion);
        return r;
    }

    /**
     * A streamed Responses API answer, as OpenAI sends it: {@code response.created} and
     * {@code response.in_progress} (no usage yet), the text in up to four {@code response.output_text.delta} events,
     * then {@code response.completed} (or {@code response.incomplete}) carrying the whole response with its usage;
     * no {@code [DONE]}.
     */
    private void streamResponse(HttpServerResponse resp, ObjectNode done, long seed, long completion) {
        boolean cut = done.path("status").asText().equals("incomplete");
        ObjectNode created = done.deepCopy();
        created.put("status", "in_progress");
        created.putArray("output");
        created.putNull("incomplete_details");
        created.putNull("usage");
        resp.setChunked(true).putHeader("content-type", "text/event-stream").putHeader("cache-control", "no-cache");
        StringBuilder out = new StringBuilder();
        int seq = 0;
        ObjectNode first = JSON.createObjectNode();
        first.put("type", "response.created");
        first.put("sequence_number", seq++);
        first.set("response", created);
        event(out, first);
        ObjectNode progress = JSON.createObjectNode();
        progress.put("type", "response.in_progress");
        progress.put("sequence_number", seq++);
        progress.set("response", created);
        event(out, progress);
        String[] words = text(seed, completion).split(" ");
        int pieces = Math.min(4, words.length);
        String itemId = done.path("output").path(0).path("id").asText();
        for (int p = 0; p < pieces; p++) {
            StringBuilder piece = new StringBuilder();
            for (int i = p * words.length / pieces; i < (p + 1) * words.length / pieces; i++) {
                piece.append(i == 0 ? "" : " ").append(words[i]);
            }
            ObjectNode d = JSON.createObjectNode();
            d.put("type", "response.output_text.delta");
            d.put("sequence_number", seq++);
            d.put("item_id", itemId);
            d.put("output_index", 0);
            d.put("content_index", 0);
            d.put("delta", piece.toString());
            event(out, d);
        }
        ObjectNode last = JSON.createObjectNode();
        last.put("type", cut ? "response.incomplete" : "response.completed");
        last.put("sequence_number", seq);
        last.set("response", done);
        event(out, last);
        resp.write(out.toString());
        resp.end();
    }

    private static void event(StringBuilder out, ObjectNode data) {
        out.append("event: ").append(data.get("type").asText()).append("\ndata: ").append(data).append("\n\n");
    }

    private static ObjectNode chunk(String id, long created, String model) {
        ObjectNode c = JSON.createObjectNode();
        c.put("id", id);
        c.put("object", "chat.completion.chunk");
        c.put("created", created);
        c.put("model", model);
        ArrayNode choices = c.putArray("choices");
        ObjectNode choice = choices.addObject();
        choice.put("index", 0);
        choice.putNull("finish_reason");
        return c;
    }

    private static void usage(ObjectNode u, long prompt, long completion) {
        u.put("prompt_tokens", prompt);
        u.put("completion_tokens", completion);
        u.put("total_tokens", prompt + completion);
    }

    private void refuse(HttpServerResponse resp, String model, SimulatorLimits l, KeyWindows.Admission a,
            long requested) {
        rejected.incrementAndGet();
        KeyWindows.Refusal r = Objects.requireNonNull(a.refusal());
        switch (r) {
            case CONCURRENCY -> rejectedConcurrency.incrementAndGet();
            case REQUESTS -> rejectedRequests.incrementAndGet();
            case TOKENS, TOO_LARGE -> rejectedTokens.incrementAndGet();
            case REQUESTS_PER_DAY -> rejectedDaily.incrementAndGet();
        }
        // A concurrency refusal has no exact wait: suggest the answer latency.
        long waitMicros = r == KeyWindows.Refusal.CONCURRENCY ? Math.max(1000, latency.toNanos() / 1000)
                : Math.max(1, a.retryAfterMicros());
        if (config.dialect == Dialect.GEMINI) {
            geminiRefusal(resp, model, l, r, waitMicros);
            return;
        }
        long ms = (waitMicros + 999) / 1000;
        if (r != KeyWindows.Refusal.TOO_LARGE) {
            resp.putHeader("retry-after", Long.toString(Math.max(1, (ms + 999) / 1000)));
            resp.putHeader("retry-after-ms", Long.toString(ms));
        }
        String wait = openAiDuration(waitMicros);
        String message = switch (r) {
            case REQUESTS -> "Rate limit reached for " + model + " in organization org-simulator on requests per min"
                    + " (RPM): Limit " + l.requests() + ", Used " + l.requests() + ", Requested 1. Please try again in "
                    + wait + ".";
            case TOKENS -> "Rate limit reached for " + model + " in organization org-simulator on tokens per min"
                    + " (TPM): Limit " + l.tokens() + ", Requested " + requested + ". Please try again in " + wait
                    + ".";
            case TOO_LARGE -> "Request too large for " + model + " in organization org-simulator on tokens per min"
                    + " (TPM): Limit " + l.tokens() + ", Requested " + requested + ".";
            case REQUESTS_PER_DAY -> "Rate limit reached for " + model + " in organization org-simulator on requests"
                    + " per day (RPD): Limit " + l.requestsPerDay() + ", Used " + l.requestsPerDay()
                    + ", Requested 1. Please try again in " + wait + ".";
            case CONCURRENCY -> "Too many concurrent requests for " + model + " in organization org-simulator:"
                    + " Limit " + l.concurrent() + ". Please try again in " + wait + ".";
        };
        String type = r == KeyWindows.Refusal.TOKENS || r == KeyWindows.Refusal.TOO_LARGE ? "tokens" : "requests";
        sendError(resp, 429, message, type, "rate_limit_exceeded");
    }

    private void geminiRefusal(HttpServerResponse resp, String model, SimulatorLimits l, KeyWindows.Refusal r,
            long waitMicros) {
        String quotaId;
        String metric;
        long value;
        switch (r) {
            case REQUESTS_PER_DAY -> {
                quotaId = "GenerateRequestsPerDayPerProjectPerModel-FreeTier";
                metric = "generativelanguage.googleapis.com/generate_content_free_tier_requests";
                value = l.requestsPerDay();
            }
            case TOKENS, TOO_LARGE -> {
                quotaId = "GenerateContentInputTokensPerModelPerMinute-FreeTier";
                metric = "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count";
                value = l.tokens();
            }
            case CONCURRENCY -> {
                quotaId = "GenerateRequestsConcurrentPerProjectPerModel-FreeTier";
                metric = "generativelanguage.googleapis.com/generate_content_free_tier_requests";
                value = l.concurrent();
            }
            default -> {
                quotaId = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier";
                metric = "generativelanguage.googleapis.com/generate_content_free_tier_requests";
                value = l.requests();
            }
        }
        ObjectNode root = JSON.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("code", 429);
        error.put("message", "You exceeded your current quota, please check your plan and billing details. For more"
                + " information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n"
                + "* Quota exceeded for metric: " + metric + ", limit: " + value + ", model: " + model
                + "\nPlease retry in " + geminiSeconds(waitMicros) + ".");
        error.put("status", "RESOURCE_EXHAUSTED");
        ArrayNode details = error.putArray("details");
        ObjectNode failure = details.addObject();
        failure.put("@type", "type.googleapis.com/google.rpc.QuotaFailure");
        ObjectNode violation = failure.putArray("violations").addObject();
        violation.put("quotaMetric", metric);
        violation.put("quotaId", quotaId);
        ObjectNode dims = violation.putObject("quotaDimensions");
        dims.put("location", "global");
        dims.put("model", model);
        violation.put("quotaValue", Long.toString(value));
        ObjectNode help = details.addObject();
        help.put("@type", "type.googleapis.com/google.rpc.Help");
        ObjectNode link = help.putArray("links").addObject();
        link.put("description", "Learn more about Gemini API quotas");
        link.put("url", "https://ai.google.dev/gemini-api/docs/rate-limits");
        ObjectNode retry = details.addObject();
        retry.put("@type", "type.googleapis.com/google.rpc.RetryInfo");
        retry.put("retryDelay", geminiSeconds(waitMicros));
        resp.setStatusCode(429).putHeader("content-type", "application/json; charset=UTF-8").end(root.toString());
    }

    private static void sendError(HttpServerResponse resp, int status, String message, String type,
            @Nullable String code) {
        sendError(resp, status, message, type, null, code);
    }

    private static void sendError(HttpServerResponse resp, int status, String message, String type,
            @Nullable String param, @Nullable String code) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", message);
        error.put("type", type);
        if (param == null) {
            error.putNull("param");
        } else {
            error.put("param", param);
        }
        if (code == null) {
            error.putNull("code");
        } else {
            error.put("code", code);
        }
        resp.setStatusCode(status).putHeader("content-type", "application/json").end(root.toString());
    }

    /**
     * A duration as OpenAI writes it in {@code x-ratelimit-reset-*}: {@code 20ms}, {@code 1.5s}, {@code 6m0s},
     * {@code 1h2m3s} (rounded up to the millisecond).
     */
    static String openAiDuration(long micros) {
        long ms = (Math.max(0, micros) + 999) / 1000;
        if (ms < 1000) {
            return ms + "ms";
        }
        long h = ms / 3_600_000;
        long m = ms / 60_000 % 60;
        long restMs = ms % 60_000;
        String s = seconds(restMs);
        if (h > 0) {
            return h + "h" + m + "m" + s + "s";
        }
        if (m > 0) {
            return m + "m" + s + "s";
        }
        return s + "s";
    }

    private static String seconds(long ms) {
        long whole = ms / 1000;
        long frac = ms % 1000;
        if (frac == 0) {
            return Long.toString(whole);
        }
        String f = String.format(Locale.ROOT, "%03d", frac).replaceAll("0+$", "");
        return whole + "." + f;
    }

    /** Protobuf's JSON form of a duration, as Gemini's {@code retryDelay}: {@code 43s}, {@code 0.437s}. */
    static String geminiSeconds(long micros) {
        long ms = (Math.max(0, micros) + 999) / 1000;
        return seconds(ms) + "s";
    }

    /**
     * Runs a simulator until the process is stopped. Options (all optional): {@code --port 8089},
     * {@code --rpm 20} (requests per window), {@code --tpm 20000} (tokens per window), {@code --rpd 0},
     * {@code --concurrent 0}, {@code --window 60s}, {@code --day 24h}, {@code --latency 50ms},
     * {@code --dialect openai|gemini}, {@code --chargesMaxTokens false}.
     */
    public static void main(String[] args) throws InterruptedException {
        Map<String, String> o = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            o.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        SimulatorLimits limits = new SimulatorLimits(Long.parseLong(o.getOrDefault("rpm", "20")),
                Long.parseLong(o.getOrDefault("tpm", "20000")), parseDuration(o.getOrDefault("window", "60s")),
                Long.parseLong(o.getOrDefault("rpd", "0")), parseDuration(o.getOrDefault("day", "24h")),
                Integer.parseInt(o.getOrDefault("concurrent", "0")));
        ProviderSimulator sim = builder().port(Integer.parseInt(o.getOrDefault("port", "8089")))
                .limits(limits)
                .latency(parseDuration(o.getOrDefault("latency", "50ms")))
                .dialect(Dialect.valueOf(o.getOrDefault("dialect", "openai").toUpperCase(Locale.ROOT)))
                .chargesMaxTokens(bool(o.getOrDefault("chargesMaxTokens", "false")))
                .start();
        System.out.println("Provider simulator on " + sim.baseUrl() + " with " + limits);
        Runtime.getRuntime().addShutdownHook(new Thread(sim::close));
        Thread.currentThread().join();
    }

    /** A boolean option: {@code true} or {@code false}, nothing else. */
    static boolean bool(String s) {
        if (!s.equals("true") && !s.equals("false")) {
            throw new IllegalArgumentException("not true or false: " + s);
        }
        return Boolean.parseBoolean(s);
    }

    /** A duration option: {@code 250ms}, {@code 60s}, {@code 24h}, ISO-8601, or bare seconds. */
    static Duration parseDuration(String s) {
        Duration d = Durations.parse(s);
        if (d == null) {
            throw new IllegalArgumentException("not a duration: " + s);
        }
        return d;
    }

    /** Configures and starts a {@link ProviderSimulator}. */
    public static final class Builder {
        private int port;
        private SimulatorLimits limits = SimulatorLimits.none();
        private final Map<String, SimulatorLimits> keyLimits = new HashMap<>();
        private Duration latency = Duration.ZERO;
        private Dialect dialect = Dialect.OPENAI;
        private long minCompletion = 16;
        private long maxCompletion = 128;
        private boolean chargesMaxTokens;
        private Ticker ticker = Ticker.system();

        private Builder() {
        }

        /** The port, 0 (the default) for a free one. */
        public Builder port(int port) {
            this.port = port;
            return this;
        }

        /** The limits of every API key (default: none). */
        public Builder limits(SimulatorLimits limits) {
            this.limits = Objects.requireNonNull(limits, "limits");
            return this;
        }

        /** Other limits for one API key. */
        public Builder keyLimits(String apiKey, SimulatorLimits limits) {
            keyLimits.put(apiKey, Objects.requireNonNull(limits, "limits"));
            return this;
        }

        /** The delay before each answer (default none). */
        public Builder latency(Duration latency) {
            this.latency = Objects.requireNonNull(latency, "latency");
            return this;
        }

        /** How 429s are worded (default {@link Dialect#OPENAI}). */
        public Builder dialect(Dialect dialect) {
            this.dialect = Objects.requireNonNull(dialect, "dialect");
            return this;
        }

        /** The bounds of the natural completion length in tokens (default 16..128), before {@code max_tokens}. */
        public Builder completionTokens(long min, long max) {
            if (min < 1 || max < min) {
                throw new IllegalArgumentException("need 1 <= min <= max, was " + min + ".." + max);
            }
            this.minCompletion = min;
            this.maxCompletion = max;
            return this;
        }

        /**
         * Whether a request is charged its prompt and all of its {@code max_tokens} (the completion bound when it
         * names none), as OpenAI counts tokens at admission, instead of what it used (default false).
         */
        public Builder chargesMaxTokens(boolean chargesMaxTokens) {
            this.chargesMaxTokens = chargesMaxTokens;
            return this;
        }

        /** The clock of the windows (default the system ticker). */
        public Builder ticker(Ticker ticker) {
            this.ticker = Objects.requireNonNull(ticker, "ticker");
            return this;
        }

        /**
         * Starts the server and waits until it listens.
         *
         * @throws IllegalStateException if it cannot listen
         */
        public ProviderSimulator start() {
            ChatTokens.load();
            return new ProviderSimulator(this).listen();
        }
    }
}

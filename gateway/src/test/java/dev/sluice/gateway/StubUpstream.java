package dev.sluice.gateway;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real HTTP upstream for what the provider simulator does not serve: completions, embeddings, pass-through paths
 * ({@code /v1/files}, {@code /v1/moderations}), and faults chosen by model name ({@code slow-model} never answers,
 * nor does {@code silent-model}, which counts the callers that hang up in {@link #silentClosed},
 * {@code drip-model} streams slowly until the caller leaves (chat, and the Responses API), {@code limited-model}
 * answers 429 once, then 200;
 * {@code once429-<ms>-<tag>} answers its first call 429 with {@code retry-after-ms: <ms>}, then 200; {@code ok-model}
 * always answers 200; {@code hold-model} answers as {@code ok-model} once {@link #release()} is called; {@code
 * usage-model} answers 200 reporting {@code max_tokens} completion tokens used). With {@link #denyFiles} set,
 * {@code /v1/files} answers 401 as a provider does to a wrong key, showing part of it. Every call is recorded in
 * {@link #received}.
 */
final class StubUpstream implements AutoCloseable {

    /** One call as it arrived: what was asked, with which key, when ({@link System#nanoTime()}). */
    record Received(String method, String path, String authorization, String body, String model, long nanos) {
    }

    private static final String OK_CHAT = "{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
            + "\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}";

    final List<Received> received = new CopyOnWriteArrayList<>();

    final AtomicInteger completions = new AtomicInteger();
    final AtomicInteger embeddings = new AtomicInteger();
    final AtomicInteger files = new AtomicInteger();
    final AtomicInteger limitedCalls = new AtomicInteger();
    final AtomicInteger dripChunks = new AtomicInteger();
    final AtomicBoolean dripCancelled = new AtomicBoolean();
    /** How many {@code silent-model} calls their caller hung up on. */
    final AtomicInteger silentClosed = new AtomicInteger();
    final AtomicBoolean dripStarted = new AtomicBoolean();
    final AtomicBoolean denyFiles = new AtomicBoolean();
    /** The answers {@code hold-model} keeps back until {@link #release()}. */
    private final List<HttpServerResponse> held = new CopyOnWriteArrayList<>();
    private final Vertx vertx = Vertx.vertx();
    private final HttpServer server;

    StubUpstream() throws Exception {
        server = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
            HttpServerResponse resp = req.response();
            String path = req.path();
            JsonObject json = new JsonObject();
            if (body.length() > 0 && path.startsWith("/v1/") && req.method().name().equals("POST")) {
                try {
                    json = body.toJsonObject();
                } catch (RuntimeException e) {
                    // not a JSON object: pass-through bodies need not be
                }
            }
            String auth = req.getHeader("authorization");
            received.add(new Received(req.method().name(), path, auth == null ? "" : auth, body.toString(),
                    json.getString("model", ""), System.nanoTime()));
            switch (path) {
                case "/v1/completions" -> {
                    completions.incrementAndGet();
                    resp.putHeader("content-type", "application/json").end(new JsonObject()
                            .put("id", "cmpl-1").put("object", "text_completion").put("model", json.getString("model"))
                            .put("choices", new io.vertx.core.json.JsonArray().add(new JsonObject()
                                    .put("text", " ok").put("index", 0).put("finish_reason", "stop")))
                            .put("usage", new JsonObject().put("prompt_tokens", 4).put("completion_tokens", 1)
                                    .put("total_tokens", 5)).encode());
                }
                case "/v1/embeddings" -> {
                    embeddings.incrementAndGet();
                    resp.putHeader("content-type", "application/json").end(new JsonObject()
                            .put("object", "list").put("model", json.getString("model"))
                            .put("data", new io.vertx.core.json.JsonArray().add(new JsonObject()
                                    .put("object", "embedding").put("index", 0)
                                    .put("embedding", new io.vertx.core.json.JsonArray().add(0.1).add(0.2))))
                            .put("usage", new JsonObject().put("prompt_tokens", 3).put("total_tokens", 3)).encode());
                }
                case "/v1/files" -> {
                    files.incrementAndGet();
                    if (denyFiles.get()) {
                        resp.setStatusCode(401).putHeader("content-type", "application/json")
                                .end("{\"error\":{\"message\":\"Incorrect API key provided: sk-prov-***********abcd."
                                        + "\",\"type\":\"invalid_request_error\",\"param\":null,"
                                        + "\"code\":\"invalid_api_key\"}}");
                        return;
                    }
                    resp.putHeader("content-type", "application/json").end("{\"object\":\"list\",\"data\":[]}");
                }
                case "/v1/moderations" -> resp.putHeader("content-type", "application/json")
                        .end("{\"id\":\"modr-1\",\"results\":[]}");
                case "/v1/chat/completions" -> chat(json, resp);
                case "/v1/responses" -> responses(json, resp);
                default -> resp.setStatusCode(404).end();
            }
        })).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    private void chat(JsonObject json, HttpServerResponse resp) {
        String model = json.getString("model", "");
        switch (model) {
            case "ok-model" -> resp.putHeader("content-type", "application/json").end(OK_CHAT);
            case "hold-model" -> held.add(resp);
            case "usage-model" -> {
                int out = json.getInteger("max_tokens", 16);
                resp.putHeader("content-type", "application/json").end(OK_CHAT.replace("\"completion_tokens\":1,"
                        + "\"total_tokens\":6", "\"completion_tokens\":" + out + ",\"total_tokens\":" + (5 + out)));
            }
            case "slow-model" -> {
                // never answers: the gateway's upstream timeout must fire
            }
            case "silent-model" -> resp.closeHandler(v -> silentClosed.incrementAndGet());
            case "limited-model" -> {
                if (limitedCalls.incrementAndGet() == 1) {
                    resp.setStatusCode(429).putHeader("retry-after-ms", "200")
                            .putHeader("content-type", "application/json")
                            .end("{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
                                    + "\"param\":null,\"code\":\"rate_limit_exceeded\"}}");
                } else {
                    resp.putHeader("content-type", "application/json").end("{\"id\":\"c\",\"object\":"
                            + "\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                            + "\"content\":\"ok\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,"
                            + "\"completion_tokens\":1,\"total_tokens\":6}}");
                }
            }
            case "drip-model" -> {
                dripStarted.set(true);
                int limit = json.getInteger("max_tokens", 1500);
                AtomicInteger sent = new AtomicInteger();
                resp.setChunked(true).putHeader("content-type", "text/event-stream");
                resp.closeHandler(v -> dripCancelled.set(true));
                long[] timer = {0};
                timer[0] = vertx.setPeriodic(20, id -> {
                    if (resp.closed() || sent.get() >= limit) {
                        vertx.cancelTimer(id);
                        if (!resp.closed()) {
                            resp.end("data: [DONE]\n\n");
                        }
                        return;
                    }
                    dripChunks.incrementAndGet();
                    sent.incrementAndGet();
                    resp.write("data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                            + "\"delta\":{\"content\":\"x\"}}]}\n\n");
                });
            }
            default -> {
                if (model.startsWith("once429-")) {
                    once429(model, resp);
                } else {
                    resp.setStatusCode(404).end();
                }
            }
        }
    }

    /**
     * The Responses API: {@code drip-model} streams OpenAI's events slowly ({@code response.created}, then one
     * {@code response.output_text.delta} every 20 ms) until the caller leaves or {@code max_output_tokens} deltas
     * are sent; any other model is a 404.
     */
    private void responses(JsonObject json, HttpServerResponse resp) {
        if (!json.getString("model", "").equals("drip-model") || !json.getBoolean("stream", false)) {
            resp.setStatusCode(404).end();
            return;
        }
        int limit = json.getInteger("max_output_tokens", 1500);
        AtomicInteger sent = new AtomicInteger();
        resp.setChunked(true).putHeader("content-type", "text/event-stream");
        resp.write("event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":"
                + "\"resp_drip\",\"object\":\"response\",\"status\":\"in_progress\"}}\n\n");
        vertx.setPeriodic(20, id -> {
            if (resp.closed() || sent.get() >= limit) {
                vertx.cancelTimer(id);
                if (!resp.closed()) {
                    resp.end("event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{"
                            + "\"id\":\"resp_drip\",\"status\":\"completed\",\"usage\":{\"input_tokens\":5,"
                            + "\"output_tokens\":" + sent.get() + ",\"total_tokens\":" + (5 + sent.get()) + "}}}\n\n");
                }
                return;
            }
            dripChunks.incrementAndGet();
            sent.incrementAndGet();
            resp.write("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
                    + "\"delta\":\"x\"}\n\n");
        });
    }

    /** The first call of this model gets a 429 asking to wait the milliseconds its name gives; later calls a 200. */
    private void once429(String model, HttpServerResponse resp) {
        if (calls(model) == 1) {
            resp.setStatusCode(429).putHeader("retry-after-ms", model.split("-")[1]).putHeader("retry-after", "1")
                    .putHeader("content-type", "application/json")
                    .end("{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
                            + "\"param\":null,\"code\":\"rate_limit_exceeded\"}}");
        } else {
            resp.putHeader("content-type", "application/json").end(OK_CHAT);
        }
    }

    /** Answers every {@code hold-model} call held so far, as {@code ok-model} does. */
    void release() {
        for (HttpServerResponse r : held) {
            held.remove(r);
            r.putHeader("content-type", "application/json").end(OK_CHAT);
        }
    }

    /** The calls received for {@code model}, in arrival order. */
    List<Received> calls(String model, String path) {
        return received.stream().filter(r -> r.model().equals(model) && r.path().equals(path)).toList();
    }

    /** How many chat calls named {@code model}. */
    int calls(String model) {
        return calls(model, "/v1/chat/completions").size();
    }

    /** The calls received on {@code path}, in arrival order. */
    List<Received> on(String path) {
        return received.stream().filter(r -> r.path().equals(path)).toList();
    }

    int port() {
        return server.actualPort();
    }

    String baseUrl() {
        return "http://127.0.0.1:" + port() + "/v1";
    }

    @Override
    public void close() throws java.util.concurrent.ExecutionException, java.util.concurrent.TimeoutException,
            InterruptedException {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}

package dev.sluice.gateway.internal;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.api.Decision;
import dev.sluice.cache.CacheAnswer;
import dev.sluice.cache.CacheRequest;
import dev.sluice.cache.LlmResponse;
import dev.sluice.gateway.GatewayConfig;
import dev.sluice.gateway.GatewayMetricNames;
import dev.sluice.governor.SharedCooldowns;
import dev.sluice.governor.TokenEstimator;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.RequestOptions;
import java.net.ConnectException;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Handles every HTTP call to the gateway on its event loop: authentication, body limits, parsing, the cache, admission
 * (on the limiter's executor), the upstream call, relaying (SSE chunk by chunk with back-pressure) and settlement.
 * Nothing here blocks: limiter calls on network backends run on a worker pool and come back to the call's context.
 */
public final class ProxyHandler implements Handler<HttpServerRequest> {

    private static final Logger LOG = LoggerFactory.getLogger(ProxyHandler.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The request header that picks the provider of a pass-through call whose body names no configured model. */
    static final String PROVIDER_HEADER = "x-sluice-provider";
    /** Completes a cache leader's upstream stage when the call's own error answer was written. */
    private static final Exception ANSWERED = new Exception("answered with an error", null, false, false) {
        private static final long serialVersionUID = 1L;
    };

    private final Vertx vertx;
    private final Supplier<HttpClient> client;
    private final Supplier<Routes> routes;
    private final Admission admission;
    private final SharedCooldowns cooldowns;
    private final ResponseCache cache;
    private final ResponseAffinity affinity;
    private final MeterRegistry registry;
    private final Map<List<String>, Counter> counters = new ConcurrentHashMap<>();
    /** Upstream base URLs parsed once (a URL parse per request showed in profiles); bounded by the configuration. */
    private final Map<String, Base> bases = new ConcurrentHashMap<>();
    private final Map<List<String>, Timer> timers = new ConcurrentHashMap<>();
    private final Supplier<String> scrape;
    private final Supplier<Future<Boolean>> backendUp;
    private final String backendName;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final IdleConnections idle;
    private volatile boolean draining;
    private volatile @Nullable Runnable onIdle;

    /**
     * A handler; {@code client} gives the upstream client for the calling event loop, {@code affinity} remembers
     * which key made a stored response, {@code scrape} renders {@code /metrics}, {@code backendUp} answers readiness.
     */
    public ProxyHandler(Vertx vertx, Supplier<HttpClient> client, Supplier<Routes> routes, Admission admission,
            SharedCooldowns cooldowns, ResponseCache cache, ResponseAffinity affinity, MeterRegistry registry,
            Supplier<String> scrape, Supplier<Future<Boolean>> backendUp, String backendName) {
        this.vertx = vertx;
        this.client = client;
        this.routes = routes;
        this.admission = admission;
        this.cooldowns = cooldowns;
        this.cache = cache;
        this.affinity = affinity;
        this.registry = registry;
        this.scrape = scrape;
        this.backendUp = backendUp;
        this.backendName = backendName;
        this.idle = new IdleConnections(vertx, () -> routes.get().config().server().idleTimeout().toNanos());
        registry.gauge(GatewayMetricNames.IN_FLIGHT, inFlight);
    }

    /**
     * Watches the client connection {@code c}, closing it once it has stayed {@code server.idleTimeout} with no call
     * in progress; run what this returns when {@code c} closes. Call it from the server's connection handler.
     */
    public Runnable connected(HttpConnection c) {
        return idle.opened(c);
    }

    /** Calls in progress. */
    public int inFlight() {
        return inFlight.get();
    }

    /** Calls waiting for quota. */
    public int waiting() {
        return admission.waiting();
    }

    /**
     * Refuses new calls with 503 from now on; {@code idle} runs once no call is in flight (it may run twice: a call
     * that counted itself in flight just as the drain began, and then refused itself, ends the drain again).
     */
    public void drain(Runnable idle) {
        draining = true;
        onIdle = idle;
        if (inFlight.get() == 0) {
            idle.run();
        }
    }

    private void done() {
        if (inFlight.decrementAndGet() == 0 && draining) {
            Runnable r = onIdle;
            if (r != null) {
                r.run();
            }
        }
    }

    private static void refuseDraining(HttpServerRequest req) {
        req.response().putHeader("connection", "close");
        Errors.send(req.response(), 503, "The gateway is shutting down; retry on another instance.", "server_error",
                null, "shutting_down");
    }

    @Override
    public void handle(HttpServerRequest req) {
        String path = req.path();
        Runnable leave = idle.enter(req);
        req.response().endHandler(v -> leave.run());
        req.response().closeHandler(v -> leave.run());
        try {
            if (path.equals("/health")) {
                health(req);
                return;
            }
            if (path.equals("/metrics")) {
                req.response().putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
                        .end(scrape.get());
                return;
            }
            if (draining) {
                refuseDraining(req);
                return;
            }
            if (!path.startsWith("/v1/")) {
                Errors.send(req.response(), 404, "Unknown path " + safe(path) + "; the gateway serves /v1/*, "
                        + "/health and /metrics.", "invalid_request_error", null, "not_found");
                return;
            }
            if (!plainPath(path)) {
                // what the gateway routes and checks by must be what the provider, or a proxy before it, reads
                Errors.send(req.response(), 400, "Invalid path " + safe(path) + ": empty, '.' or '..' segments, "
                        + "backslashes and encoded separators are refused.", "invalid_request_error", null,
                        "invalid_path");
                return;
            }
            Routes r = routes.get();
            Routes.TenantRoute tenant = r.authenticate(bearer(req));
            if (tenant == null) {
                boolean missing = bearer(req) == null;
                req.response().putHeader("www-authenticate", "Bearer");
                Errors.send(req.response(), 401, missing ? "You didn't provide an API key. Send your gateway key in "
                        + "an Authorization header: 'Authorization: Bearer YOUR_KEY'."
                        : "Incorrect API key provided.", "invalid_request_error", null, "invalid_api_key");
                count("other", 401, tenantTag(null), "none");
                return;
            }
            if (req.method() == HttpMethod.GET && (path.equals("/v1/models") || path.startsWith("/v1/models/"))) {
                models(req, r, path);
                return;
            }
            inFlight.incrementAndGet();
            if (draining) { // drain() began since the look above and may have found no call in flight: refuse
                refuseDraining(req);
                done();
                return;
            }
            boolean[] once = {false};
            Runnable finish = () -> {
                if (!once[0]) {
                    once[0] = true;
                    done();
                    leave.run();
                }
            };
            req.response().endHandler(v -> finish.run());
            req.response().closeHandler(v -> finish.run());
            req.response().putHeader("x-sluice-tenant", tenant.name());
            readBody(req, r, tenant, finish);
        } catch (RuntimeException e) {
            LOG.warn("unexpected failure handling {} {}: {}", req.method(), safe(path), e.toString());
            Errors.send(req.response(), 500, "The gateway failed to handle this call.", "server_error", null, null);
        }
    }

    private void readBody(HttpServerRequest req, Routes r, Routes.TenantRoute tenant, Runnable finish) {
        long max = r.config().server().maxBodyBytes();
        String len = req.getHeader("content-length");
        if (len != null) {
            try {
                if (Long.parseLong(len.trim()) > max) {
                    tooLarge(req, max);
                    return;
                }
            } catch (NumberFormatException e) {
                Errors.send(req.response(), 400, "Invalid Content-Length.", "invalid_request_error", null, null);
                return;
            }
        }
        Buffer body = Buffer.buffer();
        boolean[] over = {false};
        BodyWatch watch = new BodyWatch(req, r.config().server().bodyTimeout().toNanos());
        req.handler(chunk -> {
            watch.lastNanos = System.nanoTime();
            if (over[0]) {
                return;
            }
            if (body.length() + chunk.length() > max) {
                over[0] = true;
                tooLarge(req, max);
                return;
            }
            body.appendBuffer(chunk);
        });
        req.exceptionHandler(e -> {
        });
        req.endHandler(v -> {
            watch.stop();
            if (!over[0]) {
                dispatch(req, r, tenant, body, finish);
            }
        });
        if (!req.isEnded()) {
            watch.arm(watch.timeoutNanos);
        }
    }

    /**
     * Answers 408 and closes the connection of a request whose body stalls for {@code server.bodyTimeout}, so that a
     * client that sends part of a body holds neither a connection nor a call in flight for ever. One timer per body,
     * moved on only when it fires (not on every chunk).
     */
    private final class BodyWatch extends IdleTimer {
        final HttpServerRequest req;
        final long timeoutNanos;
        long lastNanos = System.nanoTime();

        BodyWatch(HttpServerRequest req, long timeoutNanos) {
            super(vertx);
            this.req = req;
            this.timeoutNanos = timeoutNanos;
        }

        @Override
        long leftNanos() {
            return timeoutNanos - (System.nanoTime() - lastNanos);
        }

        @Override
        void fire() {
            HttpServerResponse resp = req.response();
            if (!resp.ended() && !resp.closed()) {
                resp.putHeader("connection", "close");
                Errors.send(resp, 408, "The request body stopped arriving; the gateway waited "
                        + goDuration(timeoutNanos / 1000) + ".", "invalid_request_error", null, "request_timeout");
                count(endpoint(req.path()), 408, "unknown", "none");
            }
            req.connection().close();
        }
    }

    private void tooLarge(HttpServerRequest req, long max) {
        req.response().putHeader("connection", "close");
        Errors.send(req.response(), 413, "Request body too large: the gateway accepts at most " + max + " bytes.",
                "invalid_request_error", null, "request_too_large");
        count(endpoint(req.path()), 413, "unknown", "none");
    }

    private void dispatch(HttpServerRequest req, Routes r, Routes.TenantRoute tenant, Buffer body, Runnable finish) {
        String path = req.path();
        Kind kind = switch (path) {
            case "/v1/chat/completions" -> Kind.CHAT;
            case "/v1/completions" -> Kind.COMPLETIONS;
            case "/v1/embeddings" -> Kind.EMBEDDINGS;
            case "/v1/responses" -> Kind.RESPONSES;
            default -> null;
        };
        if (kind == null || req.method() != HttpMethod.POST) {
            Routes.ModelRoute route = passthroughRoute(req, r, body);
            if (route == null) {
                Errors.send(req.response(), 400, "The " + PROVIDER_HEADER + " header names no provider of this "
                        + "gateway: '" + safe(String.valueOf(req.getHeader(PROVIDER_HEADER))) + "' (known: "
                        + String.join(", ", r.providerNames()) + ").", "invalid_request_error", null,
                        "unknown_provider");
                count(Kind.OTHER.tag, 400, tenant.name(), "none");
                return;
            }
            StoredId stored = storedResponseId(path, body);
            if (stored == null) {
                if (r.config().upstream().responseIsolation() && bodyNamesTheResponse(path) && body.length() > 0
                        && !jsonObject(body)) {
                    // a body the gateway cannot read may name another tenant's response to a provider that can
                    Errors.send(req.response(), 400, "We could not parse the JSON body of your request.",
                            "invalid_request_error", null, null);
                    count(Kind.OTHER.tag, 400, tenant.name(), "none");
                    return;
                }
                admit(passThrough(req, r, tenant, route, body, finish));
                return;
            }
            // a stored response is read, cancelled or deleted with the key whose project holds it
            withMaker(req, r, tenant, stored.id(), stored.fromBody(), Kind.OTHER, finish, m -> {
                Routes.ModelRoute provider = m == null ? null : r.passthrough(m.provider());
                Routes.ModelRoute pinned = provider == null ? null : provider.pinned(m.keyId());
                Call c = passThrough(req, r, tenant, pinned != null ? pinned : route, body, finish);
                if (m == null) {
                    probe(c, stored.id());
                }
                admit(c);
            });
            return;
        }
        JsonNode parsed;
        try {
            parsed = JSON.readTree(body.getBytes());
        } catch (Exception e) {
            parsed = null;
        }
        if (!(parsed instanceof ObjectNode json)) {
            Errors.send(req.response(), 400, "We could not parse the JSON body of your request. (HINT: This likely "
                    + "means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
                    "invalid_request_error", null, null);
            count(kind.tag, 400, tenant.name(), "none");
            return;
        }
        JsonNode modelNode = json.get("model");
        if (modelNode == null || !modelNode.isTextual() || modelNode.asText().isEmpty()) {
            Errors.send(req.response(), 400, "You must provide a model parameter.", "invalid_request_error", "model",
                    null);
            count(kind.tag, 400, tenant.name(), "none");
            return;
        }
        Routes.ModelRoute model = r.model(modelNode.asText());
        if (model == null) {
            Errors.send(req.response(), 404, "The model '" + safe(modelNode.asText()) + "' does not exist on this "
                    + "gateway. GET /v1/models lists the models it serves.", "invalid_request_error", "model",
                    "model_not_found");
            count(kind.tag, 404, tenant.name(), "none");
            return;
        }
        long estimate;
        long output;
        try {
            estimate = estimate(kind, json, model);
            output = reservedOutput(kind, json, model);
        } catch (BadRequest e) {
            Errors.send(req.response(), 400, e.getMessage(), "invalid_request_error", e.param, e.code);
            count(kind.tag, 400, tenant.name(), "none");
            return;
        }
        JsonNode previous = kind == Kind.RESPONSES ? json.get("previous_response_id") : null;
        if (previous == null || !previous.isTextual()) {
            governed(req, r, tenant, kind, model, body, json, estimate, output, finish, null);
            return;
        }
        // a call that chains to a stored response goes out with the key whose project holds it
        withMaker(req, r, tenant, previous.asText(), true, kind, finish, m -> {
            Routes.ModelRoute pinned = m == null || !m.provider().equals(model.provider()) ? null
                    : model.pinned(m.keyId());
            // the provider counts the context the previous response carries as this call's input
            long carried = m == null ? 0 : m.tokens();
            long withContext = estimate + carried < 0 ? Long.MAX_VALUE : estimate + carried;
            governed(req, r, tenant, kind, pinned != null ? pinned : model, body, json, withContext, output, finish,
                    m == null ? previous.asText() : null);
        });
    }

    /**
     * Looks up which key made stored response {@code id} of {@code tenant} and runs {@code then} with it (null if
     * not known) on the call's context, unless the client left meanwhile: then the call ends there. With
     * {@code upstream.responseIsolation}, a response not remembered for the tenant (or found by probing) is a 404
     * (as the provider's: {@code previous_response_not_found} for an id named by {@code previous_response_id},
     * {@code chained}), and a store that did not answer a 503: neither goes upstream.
     */
    private void withMaker(HttpServerRequest req, Routes r, Routes.TenantRoute tenant, String id, boolean chained,
            Kind kind, Runnable finish, java.util.function.Consumer<ResponseAffinity.@Nullable Maker> then) {
        Context ctx = vertx.getOrCreateContext();
        affinity.maker(tenant.name(), id, r.config().upstream().responseAffinity(), r.config().backend().timeout())
                .whenComplete((m, e) -> ctx.runOnContext(v -> {
                    if (req.response().closed()) {
                        finish.run();
                        return;
                    }
                    boolean unanswered = e != null || m == ResponseAffinity.UNANSWERED;
                    ResponseAffinity.Maker found = unanswered ? null : m;
                    // a key found by probing (before isolation was on) is not the tenant's making
                    if ((found == null || found.probed()) && r.config().upstream().responseIsolation()) {
                        notTheTenants(req, tenant, id, chained, kind, unanswered);
                        return;
                    }
                    then.accept(found);
                }));
    }

    /** The answer to a call about a stored response the tenant is not known to have made (responseIsolation). */
    private void notTheTenants(HttpServerRequest req, Routes.TenantRoute tenant, String id, boolean chained,
            Kind kind, boolean unanswered) {
        int status;
        if (unanswered) {
            status = 503;
            Errors.send(req.response(), status, "The gateway could not check which tenant made response '" + safe(id)
                    + "'; retry later.", "server_error", null, "backend_unavailable");
        } else if (chained) {
            status = 404;
            Errors.send(req.response(), status, "Previous response with id '" + safe(id) + "' not found.",
                    "invalid_request_error", "previous_response_id", "previous_response_not_found");
        } else {
            status = 404;
            Errors.send(req.response(), status, "Response with id '" + safe(id) + "' not found.",
                    "invalid_request_error", null, "not_found");
        }
        count(kind.tag, status, tenant.name(), "none");
    }

    /**
     * Whether {@code path} (as sent, not decoded) names its resource one way only: no empty segment (no {@code //},
     * no trailing {@code /}), no {@code .} or {@code ..} segment, no backslash, no percent-encoded {@code .},
     * {@code /} or {@code \}. A server or proxy that normalises such a path would reach another resource than the
     * one the gateway routed, governed and checked by.
     */
    static boolean plainPath(String path) {
        if (path.indexOf('\\') >= 0) {
            return false;
        }
        String lower = path.toLowerCase(Locale.ROOT);
        if (lower.contains("%2e") || lower.contains("%2f") || lower.contains("%5c")) {
            return false;
        }
        for (String segment : path.substring(1).split("/", -1)) {
            if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
                return false;
            }
        }
        return true;
    }

    /**
     * The stored response a pass-through call is about: {@code id}, named by the call's path, or by the
     * {@code previous_response_id} of its body ({@code fromBody}).
     */
    record StoredId(String id, boolean fromBody) {
    }

    /**
     * The stored response a pass-through call is about, or null: the one its path names
     * ({@code /v1/responses/{id}}, and below it); for OpenAI's calls on no stored response
     * ({@code /v1/responses/input_tokens}, {@code /v1/responses/compact}), the {@code previous_response_id} of
     * their body (null if the body is not one well-formed JSON object, or names none).
     */
    static @Nullable StoredId storedResponseId(String path, Buffer body) {
        String prefix = "/v1/responses/";
        if (!path.startsWith(prefix)) {
            return null;
        }
        int end = path.indexOf('/', prefix.length());
        String id = path.substring(prefix.length(), end < 0 ? path.length() : end);
        if (end < 0 && bodyNamesTheResponse(path)) {
            String previous = topLevelText(body, "previous_response_id");
            return previous == null || previous.isEmpty() ? null : new StoredId(previous, true);
        }
        return id.isEmpty() ? null : new StoredId(id, false);
    }

    /** Whether a pass-through call on {@code path} names the stored response it is about in its body. */
    static boolean bodyNamesTheResponse(String path) {
        return path.equals("/v1/responses/input_tokens") || path.equals("/v1/responses/compact");
    }

    /** A pass-through call on {@code route}, to admit: no JSON handed on, the body goes upstream byte for byte. */
    private static Call passThrough(HttpServerRequest req, Routes r, Routes.TenantRoute tenant,
            Routes.ModelRoute route, Buffer body, Runnable finish) {
        Call c = new Call(req, r, tenant, Kind.OTHER, route, body, null);
        c.finish = finish;
        c.estimate = 0;
        return c;
    }

    /**
     * Lets {@code c}, about stored response {@code id} that no record names the maker of, try the other keys of its
     * pool in turn while the provider answers that the response is not found (with remembering on and more than one
     * key: the record may have expired, or the response been made around the gateway).
     */
    private static void probe(Call c, String id) {
        if (!c.routes.config().upstream().responseAffinity().isZero() && c.model.keys().size() > 1) {
            c.probeId = id;
            c.pool = c.model;
        }
    }

    /** A governed call, its body read and checked and its tokens estimated: from the cache, or admitted. */
    private void governed(HttpServerRequest req, Routes r, Routes.TenantRoute tenant, Kind kind,
            Routes.ModelRoute model, Buffer body, ObjectNode json, long estimate, long output, Runnable finish,
            @Nullable String probeId) {
        Call c = new Call(req, r, tenant, kind, model, body, json);
        c.finish = finish;
        if (probeId != null) {
            probe(c, probeId);
        }
        c.estimate = estimate;
        c.output = output;
        c.stream = kind != Kind.EMBEDDINGS && json.path("stream").asBoolean(false);
        c.background = kind == Kind.RESPONSES && json.path("background").asBoolean(false);
        // the Responses API keeps state (a stored response, its id chained by later calls): never replayed
        CacheRequest cr = kind == Kind.RESPONSES ? null : cache.request(tenant.name(), model.baseUrl(),
                req.path().substring("/v1".length()), json, kind == Kind.EMBEDDINGS);
        if (cr == null) {
            admit(c);
            return;
        }
        c.cached = true;
        Context ctx = vertx.getOrCreateContext();
        cache.call(cr, () -> {
            CompletableFuture<LlmResponse> sink = new CompletableFuture<>();
            c.sink = sink;
            ctx.runOnContext(v -> admit(c));
            return sink;
        }).whenComplete((answer, err) -> ctx.runOnContext(v -> deliver(c, answer, err)));
    }

    /**
     * The route of a pass-through call: the model its JSON body names, if configured (that model's pool and limits);
     * else the provider the {@value #PROVIDER_HEADER} header names; else the default pass-through provider. Null if
     * the header names no provider.
     */
    private static Routes.@Nullable ModelRoute passthroughRoute(HttpServerRequest req, Routes r, Buffer body) {
        String name = bodyModel(body);
        Routes.ModelRoute model = name == null ? null : r.model(name);
        if (model != null) {
            return model;
        }
        String provider = req.getHeader(PROVIDER_HEADER);
        return provider == null ? r.passthrough() : r.passthrough(provider.trim());
    }

    /**
     * The top-level {@code model} string of a body that is one well-formed JSON object, or null (empty, not JSON,
     * not an object, no textual model). Streams over the body without building a tree.
     */
    static @Nullable String bodyModel(Buffer body) {
        return topLevelText(body, "model");
    }

    /**
     * The top-level string {@code field} of a body that is one well-formed JSON object, or null (empty, not JSON,
     * not an object, no such string). Streams over the body without building a tree.
     */
    static @Nullable String topLevelText(Buffer body, String field) {
        return topLevel(body, field, null);
    }

    /** Whether {@code body} is one well-formed JSON object. */
    static boolean jsonObject(Buffer body) {
        boolean[] object = {false};
        topLevel(body, "", object);
        return object[0];
    }

    /** {@link #topLevelText}, setting {@code object[0]} if the body is one well-formed JSON object. */
    private static @Nullable String topLevel(Buffer body, String field, boolean @Nullable [] object) {
        int n = body.length();
        int i = 0;
        while (i < n && Character.isWhitespace(body.getByte(i))) {
            i++;
        }
        if (i == n || body.getByte(i) != '{') {
            return null; // not JSON (multipart, form, binary): no parse attempted
        }
        try (JsonParser p = JSON.getFactory().createParser(body.getBytes())) {
            p.nextToken();
            String value = null;
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken v = p.nextToken();
                if (name.equals(field)) {
                    value = v == JsonToken.VALUE_STRING ? p.getText() : null;
                }
                p.skipChildren();
            }
            boolean whole = t == JsonToken.END_OBJECT && p.nextToken() == null;
            if (object != null) {
                object[0] = whole;
            }
            return whole ? value : null;
        } catch (java.io.IOException | RuntimeException e) {
            return null;
        }
    }

    /** Writes what the cache answered: a hit, a coalesced call's answer, or this call's own upstream answer. */
    private void deliver(Call c, @Nullable CacheAnswer answer, @Nullable Throwable err) {
        HttpServerResponse resp = c.req.response();
        if (resp.ended() || resp.closed() || resp.headWritten()) {
            return; // this call's own error was written already
        }
        if (err != null || answer == null) {
            resp.putHeader("retry-after", "1");
            Errors.send(resp, 503, "An identical request this one was waiting for failed; retry.", "server_error",
                    null, "coalesced_failure");
            count(c.kind.tag, 503, c.tenant.name(), "coalesced");
            return;
        }
        LlmResponse r = answer.response();
        String source = switch (answer.source()) {
            case HIT, NEAR_HIT -> "hit";
            case COALESCED -> "coalesced";
            default -> "miss";
        };
        resp.setStatusCode(r.status()).putHeader("content-type", r.contentType()).putHeader("x-sluice-cache", source);
        MultiMap own = c.leaderHeaders;
        if (own != null && answer.source().calledUpstream()) {
            resp.headers().addAll(own);
        }
        resp.end(Buffer.buffer(r.body()));
        count(c.kind.tag, r.status(), c.tenant.name(), source);
        latency(c);
    }

    /** The call ended in an error written to its own client: identical calls waiting on it learn so. */
    private static void failSink(Call c) {
        CompletableFuture<LlmResponse> sink = c.sink;
        if (sink != null) {
            sink.completeExceptionally(ANSWERED);
        }
    }

    /**
     * The tokens a call may use: its prompt plus {@code n} answers of the most it asks for.
     *
     * @throws BadRequest if the body is not a call of its kind, or asks for more tokens than a {@code long} holds
     *     (a 400 {@code request_too_large}, as any call larger than a limit admits)
     */
    private static long estimate(Kind kind, ObjectNode json, Routes.ModelRoute model) throws BadRequest {
        String m = model.upstreamModel();
        try {
            switch (kind) {
                case CHAT -> {
                    JsonNode messages = json.get("messages");
                    if (messages == null || !messages.isArray() || messages.isEmpty()) {
                        throw new BadRequest("'messages' must be a non-empty array.", "messages");
                    }
                    String encoding = TokenEstimator.openAiEncoding(m);
                    return Math.addExact(Math.addExact(
                            TokenEstimator.chatPromptTokens(encoding, messages, model.imageTokens()),
                            TokenEstimator.toolTokens(encoding, json)), reservedOutput(kind, json, model));
                }
                case COMPLETIONS -> {
                    JsonNode prompt = json.get("prompt");
                    if (prompt == null || !(prompt.isTextual() || prompt.isArray())) {
                        throw new BadRequest("'prompt' must be a string or an array.", "prompt");
                    }
                    return Math.addExact(TokenEstimator.textTokens(TokenEstimator.openAiEncoding(m), prompt),
                            reservedOutput(kind, json, model));
                }
                case EMBEDDINGS -> {
                    JsonNode input = json.get("input");
                    if (input == null || !(input.isTextual() || input.isArray())) {
                        throw new BadRequest("'input' must be a string or an array.", "input");
                    }
                    return Math.max(1, TokenEstimator.textTokens(TokenEstimator.openAiEncoding(m), input));
                }
                case RESPONSES -> {
                    // no input: the context comes from previous_response_id, conversation or prompt, which the
                    // request does not hold; the settlement charges it
                    JsonNode input = json.get("input");
                    if (input != null && !input.isNull() && !(input.isTextual() || input.isArray())) {
                        throw new BadRequest("'input' must be a string or an array.", "input");
                    }
                    String encoding = TokenEstimator.openAiEncoding(m);
                    return Math.addExact(Math.addExact(
                            TokenEstimator.responsesInputTokens(encoding, json, model.imageTokens()),
                            TokenEstimator.toolTokens(encoding, json)), reservedOutput(kind, json, model));
                }
                default -> {
                    return 0;
                }
            }
        } catch (ArithmeticException e) {
            throw tooManyTokens(outputParam(kind, json), kind == Kind.CHAT || kind == Kind.COMPLETIONS);
        }
    }

    /**
     * The answer's share of a call's estimate: {@code n} × the most output tokens it may produce (the larger of
     * {@code max_tokens} and {@code max_completion_tokens}, as providers differ in which one they honour, else the
     * model's default, for chat; for completions, {@code max_tokens}, else 16, for each of the larger of {@code n}
     * and {@code best_of} answers generated for each prompt of a batch; for the Responses API,
     * {@code max_output_tokens}, else the model's default); none for other kinds.
     *
     * @throws ArithmeticException if it does not fit a long
     */
    private static long reservedOutput(Kind kind, ObjectNode json, Routes.ModelRoute model) throws BadRequest {
        long n = answers(json, "n");
        return switch (kind) {
            case CHAT -> {
                long both = Math.max(maxOut(json, "max_tokens", 0), maxOut(json, "max_completion_tokens", 0));
                yield Math.multiplyExact(n, both > 0 ? both : model.maxOutputTokens());
            }
            case COMPLETIONS -> Math.multiplyExact(Math.multiplyExact(prompts(json.get("prompt")),
                    Math.max(n, answers(json, "best_of"))), maxOut(json, "max_tokens", 16));
            case RESPONSES -> maxOut(json, "max_output_tokens", model.maxOutputTokens());
            default -> 0;
        };
    }

    /** A count of answers ({@code n}, {@code best_of}): at least 1; {@link Long#MAX_VALUE} beyond a long. */
    private static long answers(ObjectNode json, String field) {
        JsonNode v = json.path(field);
        return v.isIntegralNumber() && !v.canConvertToLong() ? Long.MAX_VALUE : Math.max(1, v.asLong(1));
    }

    /**
     * The prompts of a completions call: 1 for a string or one array of token ids, else one per element of the
     * array (strings or arrays of token ids), each answered on its own.
     */
    private static long prompts(@Nullable JsonNode prompt) {
        if (prompt == null || !prompt.isArray() || prompt.isEmpty()) {
            return 1;
        }
        for (JsonNode e : prompt) {
            if (!e.isNumber()) {
                return prompt.size();
            }
        }
        return 1; // token ids: one prompt
    }

    private static long maxOut(JsonNode json, String field, long dflt) throws BadRequest {
        JsonNode v = json.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.canConvertToExactIntegral() || v.decimalValue().signum() < 1) {
            throw new BadRequest("'" + field + "' must be a positive integer.", field);
        }
        if (!v.canConvertToLong()) {
            throw tooManyTokens(field, !field.equals("max_output_tokens"));
        }
        return v.asLong();
    }

    /** A call whose tokens overflow a long; {@code param} bounds its answer, {@code n} if it may ask for several. */
    private static BadRequest tooManyTokens(@Nullable String param, boolean n) {
        String lower = param == null ? "Shorten the input." : "Lower " + param + (n ? " or n." : ".");
        return new BadRequest("This request asks for more tokens (its input plus the most it may answer) than any "
                + "limit admits in one call. " + lower, param, "request_too_large");
    }

    private void admit(Call c) {
        GatewayConfig.Queue q = c.routes.config().queue();
        Duration wait = Duration.ofNanos(Math.max(0, c.deadlineNanos - System.nanoTime()));
        // the first admission waits from the call's arrival; one after an upstream 429 or 404, from its own start
        long waitFrom = c.waited ? System.nanoTime() : c.startNanos;
        if (!c.waited) {
            c.waited = true;
            c.deadlineNanos = System.nanoTime() + q.maxWait().toNanos();
            wait = q.maxWait();
        }
        Context ctx = vertx.getOrCreateContext();
        CompletableFuture<Admission.Outcome> admitting = admission.admit(c.tenant, c.model, c.estimate, c.output,
                wait, q.maxWaitingPerTenant());
        if (c.sink == null) {
            // A client that leaves while its call waits gives up its place in the waiting room (and what it was
            // granted meanwhile), unless identical calls share it (the cache's leader: they wait for its answer).
            // Sending replaces this handler with its own.
            c.req.response().closeHandler(v -> {
                admitting.cancel(false);
                c.finish.run();
            });
        }
        Future.fromCompletionStage(admitting, ctx)
                .onComplete(ar -> {
                    if (admitting.isCancelled()) {
                        return; // the client left while waiting: nothing to answer, nothing charged
                    }
                    if (ar.failed()) {
                        LOG.warn("limiter failure: {}", ar.cause().toString());
                        Errors.send(c.req.response(), 503, "The rate limiter failed; retry later.", "server_error",
                                null, "limiter_unavailable");
                        failSink(c);
                        count(c.kind.tag, 503, c.tenant.name(), c.cacheTag());
                        return;
                    }
                    Admission.Outcome o = ar.result();
                    if (o.refusal() != null) {
                        refuse(c, o.refusal());
                        return;
                    }
                    c.ticket = o.ticket();
                    timer(GatewayMetricNames.QUEUE_WAIT).record(System.nanoTime() - waitFrom, TimeUnit.NANOSECONDS);
                    if (c.req.response().closed() && c.sink == null) {
                        admission.settle(c.ticket, 0, false); // the client left while waiting
                        return;
                    }
                    send(c); // a cache leader goes on for the identical calls waiting on it, its own client or not
                });
    }

    private void refuse(Call c, Admission.Refusal f) {
        HttpServerResponse resp = c.req.response();
        failSink(c);
        counter(GatewayMetricNames.REFUSED, "tenant", c.tenant.name(), "scope",
                f.scope().name().toLowerCase(Locale.ROOT)).increment();
        if (f.scope() == Admission.Scope.TOO_LARGE) {
            String param = outputParam(c.kind, c.json);
            Errors.send(resp, 400, f.message() + (param == null ? " Shorten the input." : " Lower " + param
                    + " or shorten the input."), "invalid_request_error", param, "request_too_large");
            count(c.kind.tag, 400, c.tenant.name(), c.cacheTag());
            return;
        }
        MultiMap h = resp.headers();
        long micros = Math.max(1, f.retryAfterMicros());
        h.set("retry-after", Long.toString((micros + 999_999) / 1_000_000));
        h.set("retry-after-ms", Long.toString((micros + 999) / 1000));
        h.set("x-sluice-limited-by", f.scope().name().toLowerCase(Locale.ROOT));
        Decision d = f.decision();
        if (d != null) {
            if (f.scope() == Admission.Scope.TENANT) {
                rateHeaders(h, d, null);
            } else {
                rateHeaders(h, null, d);
            }
            if (d.boundBy() != null) {
                h.set("x-ratelimit-reset-" + d.boundBy().dimension(), goDuration(micros));
            }
        }
        int status = f.scope() == Admission.Scope.BACKEND ? 503 : 429;
        Errors.send(resp, status, f.message(), status == 429 ? "requests" : "server_error", null,
                status == 429 ? "rate_limit_exceeded" : "limiter_unavailable");
        count(c.kind.tag, status, c.tenant.name(), c.cacheTag());
    }

    /**
     * The field that bounds a call's answer: the one the client set (for chat, the larger of the two it may set),
     * else its kind's usual one; null for a call that answers no text (embeddings).
     */
    static @Nullable String outputParam(Kind kind, @Nullable JsonNode json) {
        return switch (kind) {
            case RESPONSES -> "max_output_tokens";
            case CHAT -> json != null && json.path("max_completion_tokens").isNumber()
                    && json.path("max_completion_tokens").asLong() >= json.path("max_tokens").asLong(0)
                    ? "max_completion_tokens" : "max_tokens";
            case COMPLETIONS -> "max_tokens";
            default -> null;
        };
    }

    private void send(Call c) {
        Admission.Ticket t = java.util.Objects.requireNonNull(c.ticket);
        Routes.PoolKey key = t.key();
        GatewayConfig.Upstream u = c.routes.config().upstream();
        String uri = c.req.uri();
        Base base = bases.computeIfAbsent(c.model.baseUrl(), Base::of);
        RequestOptions o = new RequestOptions().setMethod(c.req.method()).setHost(base.host).setPort(base.port)
                .setSsl(base.ssl).setURI(base.path + uri.substring("/v1".length()))
                .setConnectTimeout(u.connectTimeout().toMillis()).setIdleTimeout(u.timeout().toMillis());
        o.putHeader("authorization", "Bearer " + key.secret());
        String ct = c.req.getHeader("content-type");
        if (ct != null) {
            o.putHeader("content-type", ct);
        }
        String accept = c.req.getHeader("accept");
        if (accept != null) {
            o.putHeader("accept", accept);
        }
        Buffer payload = c.upstreamBody();
        client.get().request(o).compose(creq -> {
            c.upstreamRequest = creq;
            HttpServerResponse resp = c.req.response();
            if (resp.closed() && c.sink == null) { // the client left while the connection opened: nothing went out
                c.clientGone = true;
                admission.settle(t, 0, false);
                creq.reset();
            } else if (!resp.closed()) {
                // A client that leaves before the answer begins cancels the upstream call, unless identical calls
                // share it (the cache's leader: they wait for its answer); the call is settled with its prompt if
                // streamed (a provider stops generating), else with all it reserved (it may not). Relaying a stream
                // replaces this handler with its own.
                resp.closeHandler(v -> {
                    if (!resp.ended() && !c.clientGone && c.sink == null) {
                        clientLeft(c, t, c.stream && !c.background ? c.promptOnly() : t.reservedTokens());
                    }
                    c.finish.run();
                });
            }
            return creq.send(payload);
        }).onComplete(ar -> {
            if (ar.failed()) {
                upstreamFailed(c, ar.cause());
                return;
            }
            HttpClientResponse cresp = ar.result();
            counter(GatewayMetricNames.UPSTREAM, "provider", key.provider(), "status",
                    Integer.toString(cresp.statusCode())).increment();
            if (cresp.statusCode() == 429) {
                upstream429(c, cresp);
            } else if (cresp.statusCode() == 404 && c.probeId != null) {
                notFound(c, cresp);
            } else if (c.stream && cresp.statusCode() == 200) {
                relayStream(c, cresp);
            } else if (c.kind == Kind.OTHER) {
                relayOther(c, cresp);
            } else {
                cresp.body().onComplete(body -> relayWhole(c, cresp, body));
            }
            if (c.probeId != null && cresp.statusCode() / 100 == 2 && c.req.method() != HttpMethod.DELETE) {
                // found by probing: the next call about it goes straight to its key (a deleted one is gone)
                affinity.remember(c.tenant.name(), c.probeId, key, 0, true, u.responseAffinity());
            }
        });
    }

    /**
     * A 404 to a call about a stored response whose maker is not remembered: if the provider says it does not know
     * the response (any 404 on its path; {@code previous_response_not_found} to a chained call), the call goes out
     * again with the next key of its pool not tried yet, once admitted for it (the provider counted the request on
     * the key, and no tokens; the tenant pays once, on the next try). The last key's 404 is the client's.
     */
    private void notFound(Call c, HttpClientResponse cresp) {
        Admission.Ticket t = java.util.Objects.requireNonNull(c.ticket);
        // a client leaving while the body is read is settled below, not by the sending close handler
        c.req.response().closeHandler(v -> c.finish.run());
        cresp.body().onComplete(ar -> {
            Routes.PoolKey next = null;
            if (ar.succeeded() && (c.kind == Kind.OTHER
                    || "previous_response_not_found".equals(errorCode(ar.result())))) {
                c.probed.add(t.key().id());
                for (Routes.PoolKey k : java.util.Objects.requireNonNull(c.pool).keys()) {
                    if (!c.probed.contains(k.id())) {
                        next = k;
                        break;
                    }
                }
            }
            Routes.ModelRoute pinned = next == null ? null : c.pool.pinned(next.id());
            if (pinned == null) {
                if (c.kind == Kind.OTHER) {
                    relayBuffered(c, cresp, ar);
                } else {
                    relayWhole(c, cresp, ar);
                }
                return;
            }
            if (c.req.response().closed()) {
                admission.settle(t, 0, true);
                return;
            }
            admission.settle(t, 0, true, false);
            counter(GatewayMetricNames.AFFINITY_PROBES, "provider", t.key().provider()).increment();
            c.model = pinned;
            c.ticket = null;
            admit(c);
        });
    }

    /** The {@code error.code} of an OpenAI error body, or null. */
    static @Nullable String errorCode(Buffer body) {
        try {
            JsonNode code = JSON.readTree(body.getBytes()).path("error").path("code");
            return code.isTextual() ? code.asText() : null;
        } catch (Exception e) {
            return null;
        }
    }

    /** A pass-through answer, read: its status, type and body (as {@link #relayOther} pipes them). */
    private void relayBuffered(Call c, HttpClientResponse cresp, AsyncResult<Buffer> body) {
        if (body.failed()) {
            upstreamFailed(c, body.cause());
            return;
        }
        Admission.Ticket t = java.util.Objects.requireNonNull(c.ticket);
        admission.settle(t, 0, true);
        HttpServerResponse resp = c.req.response();
        if (resp.closed()) {
            return;
        }
        resp.setStatusCode(cresp.statusCode());
        copyHeader(cresp, resp, "content-type");
        rateHeaders(resp.headers(), t.tenantDecision(), t.keyDecision());
        resp.end(body.result());
        count(c.kind.tag, cresp.statusCode(), c.tenant.name(), "none");
        latency(c);
    }

    /** The client left before its answer ended: the upstream call is cancelled and settled with {@code used}. */
    private void clientLeft(Call c, Admission.Ticket t, long used) {
        c.clientGone = true;
        HttpClientRequest creq = c.upstreamRequest;
        if (creq != null) {
            creq.reset();
        }
        admission.settle(t, used, true);
    }

    private void upstreamFailed(Call c, Throwable e) {
        Admission.Ticket t = java.util.Objects.requireNonNull(c.ticket);
        failSink(c);
        if (c.clientGone) {
            return; // settled by the close handler
        }
        if (isConnectFailure(e)) {
            admission.settle(t, 0, false);
            LOG.warn("upstream {} unreachable: {}", t.key().provider(), e.getClass().getSimpleName());
            Errors.send(c.req.response(), 502, "The upstream provider '" + t.key().provider() + "' is unreachable.",
                    "server_error", null, "upstream_unreachable");
            count(c.kind.tag, 502, c.tenant.name(), c.cacheTag());
        } else if (isTimeout(e)) {
            admission.settle(t, t.reservedTokens(), true);
            Errors.send(c.req.response(), 504, "The upstream provider '" + t.key().provider() + "' did not answer "
                    + "in time.", "server_error", null, "upstream_timeout");
            count(c.kind.tag, 504, c.tenant.name(), c.cacheTag());
        } else {
            admission.settle(t, t.reservedTokens(), true);
            LOG.warn("upstream {} failed: {}", t.key().provider(), e.getClass().getSimpleName());
            Errors.send(c.req.response(), 502, "The upstream provider '" + t.key().provider() + "' closed the "
                    + "connection without an answer.", "server_error", null, "upstream_error");
            count(c.kind.tag, 502, c.tenant.name(), c.cacheTag());
        }
    }

    /**
     * An upstream 429: the key cools down for the wait it names (shared with every instance), and a retryable call
     * with retries left is re-admitted once a key of its pool is out of cooldown plus a random backoff (full jitter,
     * {@code upstream.backoffBase/backoffCap}), on a timer; if that passes the call's deadline, or no retry is left,
     * the client gets the 429 at once.
     */
    private void upstream429(Call c, HttpClientResponse cresp) {
        Admission.Ticket t = java.util.Objects.requireNonNull(c.ticket);
        // a client leaving while the 429's body is read leaves the settlement below to it (the provider counted
        // the request, and no tokens), not to the sending close handler's (all it reserved)
        c.req.response().closeHandler(v -> c.finish.run());
        cresp.body().onComplete(ar -> {
            String body = ar.succeeded() ? ar.result().toString(StandardCharsets.UTF_8) : null;
            GatewayConfig.Upstream u = c.routes.config().upstream();
            UpstreamSignals.Verdict v = UpstreamSignals.of429(cresp.headers(), body, u.defaultCooldown());
            Duration wait = v.cooldown();
            cooldowns.coolDown(t.key().cooldownKey(), wait);
            // a cache leader retries for the identical calls waiting on it, its own client or not
            if (v.retryable() && c.attempt < u.maxRetries() && !(c.req.response().closed() && c.sink == null)) {
                long delay = retryDelayMicros(poolCooldownMillis(c.model),
                        SharedCooldowns.backoffMicros(c.attempt + 1, u.backoffBase(), u.backoffCap()),
                        c.deadlineNanos - System.nanoTime());
                if (delay >= 0) {
                    // the provider counted the request on its key; the tenant pays once for the call, on the retry
                    admission.settle(t, 0, true, false);
                    c.attempt++;
                    c.ticket = null;
                    retryAfter(c, delay);
                    return;
                }
            }
            admission.settle(t, 0, true);
            HttpServerResponse resp = c.req.response();
            long ms = Math.max(1, wait.toMillis());
            resp.putHeader("retry-after", Long.toString((ms + 999) / 1000));
            resp.putHeader("retry-after-ms", Long.toString(ms));
            resp.putHeader("x-sluice-limited-by", "upstream");
            failSink(c);
            String why = switch (v.kind()) {
                case "daily" -> "The upstream provider's daily limit for this gateway is exhausted";
                case "quota" -> "The upstream provider's quota or billing limit for this gateway is exhausted";
                default -> "The upstream provider is rate limiting this gateway";
            };
            Errors.send(resp, 429, why + "; retry after the time in the Retry-After header.", "requests", null,
                    v.kind().equals("quota") ? "insufficient_quota" : "rate_limit_exceeded");
            count(c.kind.tag, 429, c.tenant.name(), c.cacheTag());
        });
    }

    /**
     * How long to wait before re-admitting a call the upstream answered 429: the cooldown left on the pool (until one
     * of its keys may be called), plus {@code jitterMicros}; -1 if that is not before the call's deadline,
     * {@code leftNanos} from now.
     */
    static long retryDelayMicros(long poolCooldownMillis, long jitterMicros, long leftNanos) {
        long delay = Math.max(0, poolCooldownMillis) * 1000 + Math.max(0, jitterMicros);
        return delay < leftNanos / 1000 ? delay : -1;
    }

    /** The cooldown left on {@code model}'s pool: the least of its keys' (0 if one may be called now). */
    private long poolCooldownMillis(Routes.ModelRoute model) {
        long least = Long.MAX_VALUE;
        for (Routes.PoolKey k : model.keys()) {
            least = Math.min(least, cooldowns.remainingMillis(k.cooldownKey()));
        }
        return least == Long.MAX_VALUE ? 0 : least;
    }

    /**
     * Re-admits {@code c} after {@code delayMicros} on a Vert.x timer (on the call's context, no thread held); a
     * client gone by then is not re-admitted, unless its call is a cache leader (identical calls wait on it).
     */
    private void retryAfter(Call c, long delayMicros) {
        vertx.setTimer(Math.max(1, (delayMicros + 999) / 1000), id -> {
            if (c.req.response().closed() && c.sink == null) {
                return;
            }
            admit(c);
        });
    }

    /** A whole (non-streamed) answer, read: settle from its usage, cache it if 200, pass it on. */
    private void relayWhole(Call c, HttpClientResponse cresp, AsyncResult<Buffer> ar) {
        Admission.Ticket t = java.util.Objects.requireNonNull(c.ticket);
        if (ar.failed()) {
            upstreamFailed(c, ar.cause());
            return;
        }
        Buffer b = ar.result();
        int status = cresp.statusCode();
        if (status == 401 || status == 403) {
            upstreamAuth(c, status);
            return;
        }
        long used = status / 100 == 2 ? usage(b) : 0;
        admission.settle(t, used >= 0 ? used : t.reservedTokens(), true);
        if (used > 0) {
            counter(GatewayMetricNames.TOKENS, "tenant", c.tenant.name()).increment(used);
        }
        if (c.kind == Kind.RESPONSES && status == 200) {
            String id = topLevelText(b, "id");
            if (id != null) {
                CompletableFuture<Void> stored = remember(c, t, id, Math.max(0, used));
                if (c.routes.config().upstream().responseIsolation() && !stored.isDone()) {
                    // the tenant's own response is reachable only once remembered: a call about it sent as soon as
                    // the answer arrives, through any instance, must find the record
                    Context ctx = vertx.getOrCreateContext();
                    stored.whenComplete((v, e) -> ctx.runOnContext(x -> answerWhole(c, cresp, t, b)));
                    return;
                }
            }
        }
        answerWhole(c, cresp, t, b);
    }

    /** Passes on a whole answer, settled: to the identical calls waiting on it, or to its client. */
    private void answerWhole(Call c, HttpClientResponse cresp, Admission.Ticket t, Buffer b) {
        int status = cresp.statusCode();
        HttpServerResponse resp = c.req.response();
        CompletableFuture<LlmResponse> sink = c.sink;
        if (sink != null) {
            MultiMap own = MultiMap.caseInsensitiveMultiMap();
            rateHeaders(own, t.tenantDecision(), t.keyDecision());
            String rid = cresp.getHeader("x-request-id");
            if (rid != null) {
                own.set("x-request-id", rid);
            }
            c.leaderHeaders = own;
            String ct = cresp.getHeader("content-type");
            sink.complete(new LlmResponse(status, ct == null ? LlmResponse.JSON : ct, b.getBytes()));
            return;
        }
        if (resp.closed()) {
            return;
        }
        resp.setStatusCode(status);
        copyHeader(cresp, resp, "content-type");
        copyHeader(cresp, resp, "x-request-id");
        rateHeaders(resp.headers(), t.tenantDecision(), t.keyDecision());
        resp.end(b);
        count(c.kind.tag, status, c.tenant.name(), c.cacheTag());
        latency(c);
    }

    /**
     * The upstream refused the provider key (401 or 403): a 502 {@code upstream_auth} written by the gateway, since
     * the provider's own message may show part of the key.
     */
    private void upstreamAuth(Call c, int status) {
        Admission.Ticket t = java.util.Objects.requireNonNull(c.ticket);
        admission.settle(t, 0, true);
        LOG.warn("provider {} refused key {} ({})", t.key().provider(), t.key().id(), status);
        Errors.send(c.req.response(), 502, "The upstream provider refused the gateway's credentials for '"
                + t.key().provider() + "'.", "server_error", null, "upstream_auth");
        failSink(c);
        count(c.kind.tag, 502, c.tenant.name(), c.cacheTag());
    }

    /** Any other {@code /v1/*} call: status, type and body piped through, but for a refused provider key. */
    private void relayOther(Call c, HttpClientResponse cresp) {
        Admission.Ticket t = java.util.Objects.requireNonNull(c.ticket);
        if (cresp.statusCode() == 401 || cresp.statusCode() == 403) {
            cresp.body(); // read and dropped: the connection is reused
            upstreamAuth(c, cresp.statusCode());
            return;
        }
        admission.settle(t, 0, true);
        HttpServerResponse resp = c.req.response();
        resp.setStatusCode(cresp.statusCode());
        copyHeader(cresp, resp, "content-type");
        String len = cresp.getHeader("content-length");
        if (len != null) {
            resp.putHeader("content-length", len);
        } else {
            resp.setChunked(true);
        }
        rateHeaders(resp.headers(), t.tenantDecision(), t.keyDecision());
        cresp.pipeTo(resp);
        count(c.kind.tag, cresp.statusCode(), c.tenant.name(), "none");
        latency(c);
    }

    /**
     * An SSE answer, event by event as it arrives, pausing the upstream while the client's write queue is full. The
     * final usage chunk (asked for with {@code stream_options.include_usage}) settles the call; it is passed on only
     * if the client asked for it too. A Responses stream is passed on whole and settles on its terminal event's
     * usage. A client that leaves cancels the upstream call; the call is then settled with the prompt estimate plus
     * one token per content chunk relayed (a background response: all it reserved).
     */
    private void relayStream(Call c, HttpClientResponse cresp) {
        Admission.Ticket t = java.util.Objects.requireNonNull(c.ticket);
        HttpServerResponse resp = c.req.response();
        resp.setStatusCode(200).setChunked(true);
        resp.putHeader("content-type", "text/event-stream");
        resp.putHeader("cache-control", "no-cache");
        copyHeader(cresp, resp, "x-request-id");
        rateHeaders(resp.headers(), t.tenantDecision(), t.keyDecision());
        count(c.kind.tag, 200, c.tenant.name(), "none");
        latency(c);
        SseState s = new SseState();
        resp.closeHandler(v -> {
            if (!s.ended) { // the usage, if its chunk came before the client left; else what it was sent
                clientLeft(c, t, c.streamed(t, s));
            }
            c.finish.run();
        });
        resp.drainHandler(v -> {
            if (s.held == null) {
                cresp.resume();
            }
        });
        boolean isolated = c.routes.config().upstream().responseIsolation();
        Context ctx = vertx.getOrCreateContext();
        cresp.handler(buf -> {
            for (Buffer event : s.events.feed(buf)) {
                if (c.kind == Kind.RESPONSES) {
                    boolean recorded = responsesEvent(c, t, s, event.toString(StandardCharsets.UTF_8));
                    if (s.held == null && isolated && recorded && !s.record.isDone()) {
                        // Under isolation the tenant reaches its response only once remembered: the events from the
                        // one that announces its id on wait for the record (at most backend.timeout), so a call about
                        // it sent as soon as the id is seen, through any instance, finds it.
                        s.held = new ArrayList<>();
                        cresp.pause();
                        releaseHeld(c, t, s, cresp, ctx); // once the record is written
                    }
                    if (s.held != null) {
                        s.held.add(event);
                    } else {
                        resp.write(event);
                    }
                } else if (forward(c, s, event)) {
                    resp.write(event);
                }
            }
            if (s.held == null && resp.writeQueueFull()) {
                cresp.pause();
            }
        });
        cresp.exceptionHandler(e -> {
            if (!s.ended && !c.clientGone) {
                s.ended = true;
                admission.settle(t, c.streamed(t, s), true);
                resp.reset();
            }
        });
        cresp.endHandler(v -> {
            if (s.held != null) {
                s.endHeld = true; // ends once the held events are out (defensive: a paused response holds its end)
            } else {
                endStream(c, t, s);
            }
        });
    }

    /**
     * Passes on the events held for the response's record, then lets the upstream flow again (or ends); first waits
     * for the record's last write out, which may have started while they were held.
     */
    private void releaseHeld(Call c, Admission.Ticket t, SseState s, HttpClientResponse cresp, Context ctx) {
        if (!s.record.isDone() && !c.clientGone && !s.ended) {
            s.record.whenComplete((v, e) -> ctx.runOnContext(x -> releaseHeld(c, t, s, cresp, ctx)));
            return;
        }
        List<Buffer> held = s.held;
        s.held = null;
        if (held == null || c.clientGone || s.ended) {
            return;
        }
        HttpServerResponse resp = c.req.response();
        held.forEach(resp::write);
        if (s.endHeld) {
            endStream(c, t, s);
        } else if (!resp.writeQueueFull()) { // else it stays paused, and the drain handler resumes it
            cresp.resume();
        }
    }

    /** The upstream's stream ended: the rest passed on, the client's response ended, the call settled. */
    private void endStream(Call c, Admission.Ticket t, SseState s) {
        if (c.clientGone || s.ended) {
            return;
        }
        s.ended = true;
        HttpServerResponse resp = c.req.response();
        if (s.events.rest().length() > 0) {
            resp.write(s.events.rest());
        }
        resp.end();
        long used = c.streamed(t, s);
        admission.settle(t, used, true);
        counter(GatewayMetricNames.TOKENS, "tenant", c.tenant.name()).increment(used);
    }

    /** Whether to pass the event on; reads usage from it. */
    private static boolean forward(Call c, SseState s, Buffer event) {
        String text = event.toString(StandardCharsets.UTF_8);
        if (text.contains("\"usage\":{") || text.contains("\"usage\": {")) {
            int i = text.indexOf("data:");
            if (i >= 0) {
                try {
                    JsonNode n = JSON.readTree(text.substring(i + 5).trim());
                    long u = usageOf(n.path("usage"));
                    if (u > 0) {
                        s.usage = u;
                    }
                    if (!c.clientAskedUsage && n.path("choices").isArray() && n.path("choices").isEmpty()) {
                        return false;
                    }
                } catch (Exception e) {
                    return true;
                }
            }
        } else if (text.contains("\"choices\"")) {
            s.chunks++;
        }
        return true;
    }

    /**
     * Reads a Responses API stream event by its {@code type}: the id of the response {@code response.created}
     * announces (remembered with the call's key); the usage of the response a terminal event carries
     * ({@code response.completed}, {@code response.incomplete}, {@code response.failed}); one chunk for each
     * {@code ...delta} event (text, refusal, function arguments, reasoning summary). Only the event's own type
     * decides: every event that carries the response repeats the client's fields ({@code metadata},
     * {@code instructions}), which may hold any text. Returns whether the event wrote the response's record.
     */
    private boolean responsesEvent(Call c, Admission.Ticket t, SseState s, String text) {
        int i = text.indexOf("data:");
        if (i < 0) {
            return false;
        }
        JsonNode data;
        try {
            data = JSON.readTree(text.substring(i + 5).trim());
        } catch (Exception e) {
            return false; // not JSON: relayed as it is
        }
        String type = data == null ? "" : data.path("type").asText();
        switch (type) {
            case "response.created" -> {
                JsonNode id = data.path("response").get("id");
                if (id != null && id.isTextual()) {
                    record(c, t, s, id.asText(), 0);
                    return true;
                }
            }
            case "response.completed", "response.incomplete", "response.failed" -> {
                long u = usageOf(data.path("response").path("usage"));
                if (u > 0) {
                    s.usage = u;
                    JsonNode id = data.path("response").get("id");
                    if (id != null && id.isTextual()) {
                        record(c, t, s, id.asText(), u); // now with what it used
                        return true;
                    }
                }
            }
            default -> {
                if (type.endsWith(".delta")) {
                    s.chunks++;
                }
            }
        }
        return false;
    }

    /** Writes a stream's record after its earlier writes, so the last one (with the usage) is the one kept. */
    private void record(Call c, Admission.Ticket t, SseState s, String id, long tokens) {
        s.record = s.record.thenCompose(v -> remember(c, t, id, tokens));
    }

    /**
     * Remembers that the call's key made stored response {@code id}, which used {@code tokens} (0: not known yet),
     * unless the call asked not to store it.
     */
    private CompletableFuture<Void> remember(Call c, Admission.Ticket t, String id, long tokens) {
        ObjectNode j = c.json;
        if (j != null && j.path("store").asBoolean(true)) {
            GatewayConfig.Upstream u = c.routes.config().upstream();
            return affinity.remember(c.tenant.name(), id, t.key(), tokens, false, u.responseAffinity())
                    .completeOnTimeout(null, Math.max(1, c.routes.config().backend().timeout().toMillis()),
                            TimeUnit.MILLISECONDS);
        }
        return CompletableFuture.completedFuture(null);
    }

    /** An upstream base URL, parsed: where requests go, and the path their {@code /v1/...} suffix is appended to. */
    private record Base(String host, int port, boolean ssl, String path) {
        static Base of(String baseUrl) {
            java.net.URI u = java.net.URI.create(baseUrl);
            boolean ssl = "https".equalsIgnoreCase(u.getScheme());
            int port = u.getPort() > 0 ? u.getPort() : ssl ? 443 : 80;
            String path = u.getRawPath() == null ? "" : u.getRawPath();
            return new Base(u.getHost(), port, ssl, path.endsWith("/") ? path.substring(0, path.length() - 1) : path);
        }
    }

    private static final class SseState {
        final SseSplitter events = new SseSplitter();
        long chunks;
        long usage;
        boolean ended;
        /** The stream's record writes, one after the other: the last one. */
        CompletableFuture<Void> record = CompletableFuture.completedFuture(null);
        /** Events waiting for the response's record (under isolation), the upstream paused meanwhile; or null. */
        @Nullable List<Buffer> held;
        /** The upstream ended while events were held. */
        boolean endHeld;
    }

    /**
     * The tokens a whole answer's top-level {@code usage} reports, or -1: as {@link #usageOf} reads a usage object,
     * but streaming over the answer without building a tree (an answer can be long; this runs on every call).
     */
    static long usage(Buffer body) {
        try (JsonParser p = JSON.getFactory().createParser(body.getBytes())) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return -1;
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                boolean usage = p.currentName().equals("usage");
                if (p.nextToken() == JsonToken.START_OBJECT && usage) {
                    return usageFields(p);
                }
                p.skipChildren();
            }
            return -1;
        } catch (Exception e) {
            return -1;
        }
    }

    /** {@link #usageOf} on the object whose start the parser is at, read to its end without a tree. */
    private static long usageFields(JsonParser p) throws java.io.IOException {
        long total = 0;
        long prompt = 0;
        long completion = 0;
        long input = 0;
        long output = 0;
        boolean hasTotal = false;
        boolean hasPrompt = false;
        boolean hasInput = false;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken v = p.nextToken();
            // the last of duplicate fields counts, null as absent; a container reads as 0, as JsonNode.asLong()
            // has it; numbers, numeric strings and booleans as theirs
            boolean present = v != JsonToken.VALUE_NULL;
            long n = !present || v.isStructStart() ? 0 : p.getValueAsLong();
            p.skipChildren();
            switch (field) {
                case "total_tokens" -> {
                    total = n;
                    hasTotal = present;
                }
                case "prompt_tokens" -> {
                    prompt = n;
                    hasPrompt = present;
                }
                case "completion_tokens" -> completion = n;
                case "input_tokens" -> {
                    input = n;
                    hasInput = present;
                }
                case "output_tokens" -> output = n;
                default -> {
                }
            }
        }
        if (p.currentToken() != JsonToken.END_OBJECT) {
            return -1;
        }
        return hasTotal ? total : hasPrompt ? prompt + completion : hasInput ? input + output : -1;
    }

    /**
     * The tokens a usage object reports: {@code total_tokens}; else {@code prompt_tokens + completion_tokens} (chat,
     * completions, embeddings); else {@code input_tokens + output_tokens} (the Responses API); else -1.
     */
    static long usageOf(JsonNode u) {
        if (u.hasNonNull("total_tokens")) {
            return u.get("total_tokens").asLong();
        }
        if (u.hasNonNull("prompt_tokens")) {
            return u.get("prompt_tokens").asLong() + u.path("completion_tokens").asLong(0);
        }
        if (u.hasNonNull("input_tokens")) { // the Responses API's names
            return u.get("input_tokens").asLong() + u.path("output_tokens").asLong(0);
        }
        return -1;
    }

    private static String goDuration(long micros) {
        long ms = (micros + 999) / 1000;
        return ms < 1000 ? ms + "ms" : String.format(Locale.ROOT, "%.3fs", ms / 1000.0);
    }

    /**
     * {@code x-ratelimit-limit-<dim>} and {@code x-ratelimit-remaining-<dim>} for requests and tokens: Sluice's view
     * of the tightest limit on that dimension among the tenant's share and the provider key.
     */
    static void rateHeaders(MultiMap h, @Nullable Decision tenant, @Nullable Decision key) {
        for (String dim : new String[] {"requests", "tokens"}) {
            long bestRemaining = -1;
            long bestCapacity = -1;
            for (Decision d : new Decision[] {tenant, key}) {
                if (d == null || !d.hasRemaining()) {
                    continue;
                }
                for (int i = 0; i < d.policy().size(); i++) {
                    if (!d.policy().limit(i).dimension().equals(dim)) {
                        continue;
                    }
                    long r = d.remaining(i);
                    if (r >= 0 && (bestRemaining < 0 || r < bestRemaining)) {
                        bestRemaining = r;
                        bestCapacity = d.policy().limit(i).capacity();
                    }
                }
            }
            if (bestRemaining >= 0) {
                h.set("x-ratelimit-limit-" + dim, Long.toString(bestCapacity));
                h.set("x-ratelimit-remaining-" + dim, Long.toString(bestRemaining));
            }
        }
    }

    private void models(HttpServerRequest req, Routes r, String path) {
        ArrayNode data = JSON.createArrayNode();
        ObjectNode one = null;
        for (Routes.ModelRoute m : r.models()) {
            ObjectNode e = JSON.createObjectNode();
            e.put("id", m.name());
            e.put("object", "model");
            e.put("created", 0);
            e.put("owned_by", m.provider());
            data.add(e);
            if (path.equals("/v1/models/" + m.name())) {
                one = e;
            }
        }
        if (path.startsWith("/v1/models/")) {
            if (one == null) {
                Errors.send(req.response(), 404, "The model '" + safe(path.substring(11)) + "' does not exist on "
                        + "this gateway.", "invalid_request_error", "model", "model_not_found");
                return;
            }
            req.response().putHeader("content-type", "application/json").end(one.toString());
            return;
        }
        ObjectNode root = JSON.createObjectNode();
        root.put("object", "list");
        root.set("data", data);
        req.response().putHeader("content-type", "application/json").end(root.toString());
        count("models", 200, "none", "none");
    }

    private void health(HttpServerRequest req) {
        backendUp.get().onComplete(ar -> {
            boolean up = ar.succeeded() && Boolean.TRUE.equals(ar.result());
            boolean ready = up && !draining;
            ObjectNode n = JSON.createObjectNode();
            n.put("status", ready ? "UP" : "DOWN");
            n.put("live", true);
            n.put("ready", ready);
            n.put("draining", draining);
            n.put("backend", backendName);
            n.put("backendUp", up);
            n.put("inFlight", inFlight.get());
            n.put("waiting", admission.waiting());
            req.response().setStatusCode(ready ? 200 : 503).putHeader("content-type", "application/json")
                    .end(n.toString());
        });
    }

    private static @Nullable String bearer(HttpServerRequest req) {
        String a = req.getHeader("authorization");
        if (a != null) {
            String t = a.trim();
            if (t.regionMatches(true, 0, "Bearer ", 0, 7)) {
                t = t.substring(7).trim();
            }
            return t.isEmpty() ? null : t;
        }
        String k = req.getHeader("api-key");
        if (k == null) {
            k = req.getHeader("x-api-key");
        }
        return k == null || k.isBlank() ? null : k.trim();
    }

    private static void copyHeader(HttpClientResponse from, HttpServerResponse to, String name) {
        String v = from.getHeader(name);
        if (v != null) {
            to.putHeader(name, v);
        }
    }

    private static boolean isConnectFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ConnectException || t instanceof UnknownHostException) {
                return true;
            }
        }
        return false;
    }

    private static boolean isTimeout(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof TimeoutException || t.getClass().getSimpleName().contains("Timeout")) {
                return true;
            }
        }
        return false;
    }

    /** A value from the client, shortened and stripped of control characters, for an error message. */
    private static String safe(String s) {
        String t = s.length() > 100 ? s.substring(0, 100) + "..." : s;
        return t.replaceAll("[\\p{Cntrl}]", "?");
    }

    private void count(String endpoint, int status, String tenant, String cacheTag) {
        counter(GatewayMetricNames.REQUESTS, "endpoint", endpoint, "status", Integer.toString(status), "tenant", tenant,
                "cache", cacheTag).increment();
    }

    /**
     * The counter {@code name} with the tags {@code tagKeyValues} (key, value, ...), registered once and then looked
     * up by its tag values: a Micrometer builder per request costs more than the rest of the bookkeeping. The tag
     * values are bounded (endpoints, statuses, configured tenants and providers), and so is this map. The key is a
     * list of the strings themselves, whose hashes Java keeps, rather than a string joined (and hashed) per call.
     */
    private Counter counter(String name, String... tagKeyValues) {
        return counters.computeIfAbsent(key(name, tagKeyValues),
                k -> Counter.builder(name).tags(tagKeyValues).register(registry));
    }

    private Timer timer(String name, String... tagKeyValues) {
        return timers.computeIfAbsent(key(name, tagKeyValues),
                k -> Timer.builder(name).tags(tagKeyValues).register(registry));
    }

    private static List<String> key(String name, String[] tagKeyValues) {
        String[] k = new String[tagKeyValues.length + 1];
        k[0] = name;
        System.arraycopy(tagKeyValues, 0, k, 1, tagKeyValues.length);
        return Arrays.asList(k);
    }

    private static String tenantTag(Routes.@Nullable TenantRoute t) {
        return t == null ? "unknown" : t.name();
    }

    private void latency(Call c) {
        timer(GatewayMetricNames.LATENCY, "endpoint", c.kind.tag)
                .record(System.nanoTime() - c.startNanos, TimeUnit.NANOSECONDS);
    }

    private static String endpoint(String path) {
        return switch (path) {
            case "/v1/chat/completions" -> Kind.CHAT.tag;
            case "/v1/completions" -> Kind.COMPLETIONS.tag;
            case "/v1/embeddings" -> Kind.EMBEDDINGS.tag;
            case "/v1/responses" -> Kind.RESPONSES.tag;
            default -> Kind.OTHER.tag;
        };
    }

    /** The endpoints the gateway governs on tokens, and the rest. */
    enum Kind {
        CHAT("chat"), COMPLETIONS("completions"), EMBEDDINGS("embeddings"), RESPONSES("responses"), OTHER("other");

        final String tag;

        Kind(String tag) {
            this.tag = tag;
        }
    }

    private static final class BadRequest extends Exception {
        private static final long serialVersionUID = 1L;
        final @Nullable String param;
        final @Nullable String code;

        BadRequest(String message, String param) {
            this(message, param, null);
        }

        BadRequest(String message, @Nullable String param, @Nullable String code) {
            super(message, null, false, false);
            this.param = param;
            this.code = code;
        }
    }

    /** One call's state. */
    private static final class Call {
        final HttpServerRequest req;
        final Routes routes;
        final Routes.TenantRoute tenant;
        final Kind kind;
        /** The route admitted on: the model's pool, or one key of it. */
        Routes.ModelRoute model;
        final Buffer body;
        final @Nullable ObjectNode json;
        final long startNanos = System.nanoTime();
        Runnable finish = () -> { };
        long estimate;
        /** The answer's share of {@link #estimate}. */
        long output;
        boolean stream;
        /** A Responses call the provider runs in the background: a client that leaves does not stop it. */
        boolean background;
        boolean clientAskedUsage;
        boolean cached;
        volatile @Nullable CompletableFuture<LlmResponse> sink;
        @Nullable MultiMap leaderHeaders;
        /** Whether {@link #deadlineNanos} is set: on the first admission. */
        boolean waited;
        long deadlineNanos;
        /** Upstream 429s retried. */
        int attempt;
        /** The stored response this call is about, if its maker was not known and is probed for; else null. */
        @Nullable String probeId;
        /** The pool probed, when {@link #probeId} is set. */
        Routes.@Nullable ModelRoute pool;
        /** The ids of the keys that answered 404 while probing. */
        final Set<String> probed = new java.util.HashSet<>(2);
        Admission.@Nullable Ticket ticket;
        volatile @Nullable HttpClientRequest upstreamRequest;
        volatile boolean clientGone;
        private @Nullable Buffer upstreamBody;

        Call(HttpServerRequest req, Routes routes, Routes.TenantRoute tenant, Kind kind, Routes.ModelRoute model,
                Buffer body, @Nullable ObjectNode json) {
            this.req = req;
            this.routes = routes;
            this.tenant = tenant;
            this.kind = kind;
            this.model = model;
            this.body = body;
            this.json = json;
        }

        String cacheTag() {
            return cached ? "miss" : "none";
        }

        /**
         * What a stream is settled with: the usage it reported; else the prompt estimate plus one token per chunk
         * relayed, or for a background response (which the provider finishes whoever listens) all it reserved.
         */
        long streamed(Admission.Ticket t, SseState s) {
            return s.usage > 0 ? s.usage : background ? t.reservedTokens() : promptOnly() + s.chunks;
        }

        /**
         * The estimate without the answer's share it reserved: what a call that never answered is settled with.
         */
        long promptOnly() {
            ObjectNode j = json;
            if (j == null) {
                return 0;
            }
            try {
                return Math.max(1, estimate - reservedOutput(kind, j, model));
            } catch (BadRequest | ArithmeticException e) {
                return Math.max(1, estimate); // cannot happen: the same estimate was computed at admission
            }
        }

        /** The body sent upstream: the provider's model name, and the usage chunk asked for when streaming. */
        Buffer upstreamBody() {
            if (upstreamBody != null) {
                return upstreamBody;
            }
            ObjectNode j = json;
            if (j == null) {
                upstreamBody = body;
                return body;
            }
            boolean changed = false;
            ObjectNode copy = j;
            if (!model.upstreamModel().equals(j.path("model").asText())) {
                copy = j.deepCopy();
                copy.put("model", model.upstreamModel());
                changed = true;
            }
            if (stream && kind != Kind.RESPONSES) { // a Responses stream always ends with its usage
                clientAskedUsage = j.path("stream_options").path("include_usage").asBoolean(false);
                if (!clientAskedUsage) {
                    if (!changed) {
                        copy = j.deepCopy();
                        changed = true;
                    }
                    JsonNode so = copy.get("stream_options");
                    ObjectNode opts = so instanceof ObjectNode on ? on : copy.putObject("stream_options");
                    opts.put("include_usage", true);
                }
            }
            upstreamBody = changed ? Buffer.buffer(copy.toString()) : body;
            return upstreamBody;
        }
    }
}

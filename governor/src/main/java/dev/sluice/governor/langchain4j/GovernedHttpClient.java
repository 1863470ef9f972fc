package dev.sluice.governor.langchain4j;

import dev.langchain4j.exception.HttpException;
import dev.langchain4j.http.client.HttpClient;
import dev.langchain4j.http.client.HttpMethod;
import dev.langchain4j.http.client.HttpRequest;
import dev.langchain4j.http.client.SuccessfulHttpResponse;
import dev.langchain4j.http.client.sse.ServerSentEventListener;
import dev.langchain4j.http.client.sse.ServerSentEventParser;
import dev.sluice.governor.Attempt;
import dev.sluice.governor.ChatRequest;
import dev.sluice.governor.GovernedResponse;
import dev.sluice.governor.Governor;
import dev.sluice.governor.UpstreamResponse;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import org.jspecify.annotations.Nullable;

/**
 * langchain4j's {@link HttpClient}, governed: a {@code POST .../chat/completions} goes through the
 * {@link Governor} (reserve, send, settle, cooldowns, retries, key pools); any other request is sent as it is. The
 * attempt's key replaces the request's {@code Authorization}, and a key with a base URL replaces the URL's base, so
 * the governor's pool decides which key serves each call.
 *
 * <p>A non-2xx final answer surfaces as langchain4j's {@link HttpException} (status and body), after the governor
 * has read its headers. A streamed answer is read to its end (its final usage chunk settles the call) and then
 * replayed to langchain4j's parser and listener: the events arrive together rather than as they are generated.
 */
public final class GovernedHttpClient implements HttpClient {

    private static final Set<String> RESTRICTED = Set.of("host", "content-length", "connection", "expect",
            "upgrade", "authorization");

    private final Governor governor;
    private final java.net.http.HttpClient http;
    private final Duration readTimeout;

    GovernedHttpClient(Governor governor, Duration connectTimeout, Duration readTimeout) {
        this.governor = governor;
        this.readTimeout = readTimeout;
        this.http = java.net.http.HttpClient.newBuilder().connectTimeout(connectTimeout).build();
    }

    @Override
    public SuccessfulHttpResponse execute(HttpRequest request) throws HttpException {
        try {
            return executeAsync(request).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while calling " + request.url(), e);
        } catch (ExecutionException e) {
            throw rethrow(e.getCause());
        }
    }

    @Override
    public void execute(HttpRequest request, ServerSentEventParser parser, ServerSentEventListener listener) {
        executeAsync(request).whenComplete((r, e) -> {
            if (e != null) {
                Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
                listener.onError(c);
                return;
            }
            try {
                listener.onOpen(r);
                parser.parse(new ByteArrayInputStream(r.body().getBytes(StandardCharsets.UTF_8)), listener);
                listener.onClose();
            } catch (RuntimeException ex) {
                listener.onError(ex);
            }
        });
    }

    private CompletableFuture<SuccessfulHttpResponse> executeAsync(HttpRequest request) {
        boolean chat = request.method() == HttpMethod.POST && request.url().contains("/chat/completions")
                && request.body() != null;
        if (!chat) {
            return send(request, request.url(), null).thenApply(GovernedHttpClient::successOrThrow);
        }
        ChatRequest chatRequest;
        try {
            chatRequest = ChatRequest.fromOpenAiJson(request.body());
        } catch (IllegalArgumentException e) {
            return send(request, request.url(), null).thenApply(GovernedHttpClient::successOrThrow);
        }
        return governor.callAsync(chatRequest, attempt -> sendAttempt(request, attempt))
                .thenApply(GovernedResponse::response)
                .thenApply(GovernedHttpClient::successOrThrow);
    }

    private CompletionStage<UpstreamResponse> sendAttempt(HttpRequest request, Attempt attempt) {
        String url = request.url();
        String base = attempt.key().baseUrl();
        if (base != null) {
            int at = url.indexOf("/chat/completions");
            url = base.replaceAll("/+$", "") + url.substring(at);
        }
        return send(request, url, attempt.key().secret());
    }

    private CompletableFuture<UpstreamResponse> send(HttpRequest request, String url, @Nullable String apiKey) {
        java.net.http.HttpRequest.Builder b;
        try {
            b = java.net.http.HttpRequest.newBuilder(URI.create(url)).timeout(readTimeout);
        } catch (IllegalArgumentException e) {
            return CompletableFuture.failedFuture(e);
        }
        for (Map.Entry<String, List<String>> h : request.headers().entrySet()) {
            if (h.getKey() == null || RESTRICTED.contains(h.getKey().toLowerCase(Locale.ROOT))) {
                continue;
            }
            for (String v : h.getValue()) {
                b.header(h.getKey(), v);
            }
        }
        if (apiKey != null) {
            b.header("Authorization", "Bearer " + apiKey);
        } else {
            for (Map.Entry<String, List<String>> h : request.headers().entrySet()) {
                if (h.getKey() != null && h.getKey().equalsIgnoreCase("authorization")) {
                    h.getValue().forEach(v -> b.header("Authorization", v));
                }
            }
        }
        String body = request.body() == null ? "" : request.body();
        switch (request.method()) {
            case GET -> b.GET();
            case DELETE -> b.DELETE();
            default -> b.POST(java.net.http.HttpRequest.BodyPublishers.ofString(body));
        }
        return http.sendAsync(b.build(), HttpResponse.BodyHandlers.ofString())
                .thenApply(r -> UpstreamResponse.of(r.statusCode(), r.headers().map(), r.body()));
    }

    private static SuccessfulHttpResponse successOrThrow(UpstreamResponse r) {
        if (!r.successful()) {
            throw new HttpException(r.status(), r.body() == null ? "" : r.body());
        }
        return SuccessfulHttpResponse.builder()
                .statusCode(r.status())
                .headers(r.headers())
                .body(r.body() == null ? "" : r.body())
                .build();
    }

    private static RuntimeException rethrow(Throwable e) {
        Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
        return c instanceof RuntimeException re ? re : new IllegalStateException(c);
    }
}

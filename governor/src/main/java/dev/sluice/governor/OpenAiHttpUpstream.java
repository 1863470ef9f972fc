package dev.sluice.governor;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * An {@link Upstream} that posts the request to an OpenAI-compatible {@code /chat/completions} with
 * {@link java.net.http.HttpClient}, authenticated with the attempt's key, and hands back status, headers and the whole
 * body (a stream is read to its end, so its final usage chunk settles the call). The body sent is the request's raw
 * body, or one built from its model, messages and {@code max_tokens}.
 */
public final class OpenAiHttpUpstream implements Upstream {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient client;
    private final String defaultBaseUrl;
    private final Duration timeout;

    /**
     * An upstream on {@code client}, posting to each key's base URL, or to {@code defaultBaseUrl} (for example
     * {@code https://api.groq.com/openai/v1}) for keys without one.
     */
    public OpenAiHttpUpstream(HttpClient client, String defaultBaseUrl, Duration timeout) {
        this.client = Objects.requireNonNull(client, "client");
        this.defaultBaseUrl = Objects.requireNonNull(defaultBaseUrl, "defaultBaseUrl");
        this.timeout = Objects.requireNonNull(timeout, "timeout");
    }

    @Override
    public CompletionStage<UpstreamResponse> send(Attempt attempt) {
        String base = attempt.key().baseUrl() != null ? attempt.key().baseUrl() : defaultBaseUrl;
        String body = attempt.request().body() != null ? attempt.request().body() : body(attempt.request());
        HttpRequest req;
        try {
            req = HttpRequest.newBuilder(URI.create(base.replaceAll("/+$", "") + "/chat/completions"))
                    .timeout(timeout)
                    .header("authorization", "Bearer " + attempt.key().secret())
                    .header("content-type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body))
                    .build();
        } catch (IllegalArgumentException e) {
            return CompletableFuture.failedFuture(e);
        }
        return client.sendAsync(req, HttpResponse.BodyHandlers.ofString())
                .thenApply(r -> UpstreamResponse.of(r.statusCode(), r.headers().map(), r.body()));
    }

    /** An OpenAI chat body for a request built without one. */
    static String body(ChatRequest r) {
        ObjectNode root = JSON.createObjectNode();
        root.put("model", r.model());
        ArrayNode messages = root.putArray("messages");
        for (ChatRequest.Message m : r.messages()) {
            ObjectNode n = messages.addObject();
            n.put("role", m.role());
            n.put("content", m.content());
            if (m.name() != null) {
                n.put("name", m.name());
            }
        }
        if (r.maxTokens() != null) {
            root.put("max_tokens", r.maxTokens());
        }
        if (r.stream()) {
            root.put("stream", true);
            root.putObject("stream_options").put("include_usage", true);
        }
        return root.toString();
    }
}

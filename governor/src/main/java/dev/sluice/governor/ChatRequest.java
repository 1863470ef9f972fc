package dev.sluice.governor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * What the governor needs to know of one chat call: the model, the messages (to estimate the prompt), the
 * {@code max_tokens} to reserve for the answer, whether it streams, and the raw body the upstream will send.
 * Immutable.
 *
 * @param model the model name, looked up in the {@link ProviderProfiles}
 * @param messages the prompt
 * @param maxTokens {@code max_tokens} or {@code max_completion_tokens} (the larger if both are set), or null for the
 *     profile's default
 * @param stream whether the answer streams
 * @param body the raw request body, if any, for the upstream to send as it is
 * @param choices how many answers the request asks for ({@code n}): each may use {@code maxTokens}
 * @param tools the JSON of the request's {@code tools} and {@code functions} definitions, which the provider counts as
 *     prompt tokens, or null if it has none
 * @param images how many image parts its messages hold, each counted as the profile's
 *     {@link ModelProfile#imageTokens()}
 */
public record ChatRequest(String model, List<Message> messages, @Nullable Long maxTokens, boolean stream,
        @Nullable String body, int choices, @Nullable String tools, int images) {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One chat message. */
    public record Message(String role, String content, @Nullable String name) {
        /** Validates. */
        public Message {
            Objects.requireNonNull(role, "role");
            Objects.requireNonNull(content, "content");
        }

        /** A message without a name. */
        public static Message of(String role, String content) {
            return new Message(role, content, null);
        }
    }

    /** Validates and copies. */
    public ChatRequest {
        Objects.requireNonNull(model, "model");
        messages = List.copyOf(messages);
        if (maxTokens != null && maxTokens < 1) {
            throw new IllegalArgumentException("max_tokens must be positive, was " + maxTokens);
        }
        if (choices < 1) {
            throw new IllegalArgumentException("n must be positive, was " + choices);
        }
        if (images < 0) {
            throw new IllegalArgumentException("images must be 0 or positive, was " + images);
        }
    }

    /** A request without images. */
    public ChatRequest(String model, List<Message> messages, @Nullable Long maxTokens, boolean stream,
            @Nullable String body, int choices, @Nullable String tools) {
        this(model, messages, maxTokens, stream, body, choices, tools, 0);
    }

    /** A request for one answer, without tools. */
    public ChatRequest(String model, List<Message> messages, @Nullable Long maxTokens, boolean stream,
            @Nullable String body) {
        this(model, messages, maxTokens, stream, body, 1, null, 0);
    }

    /** A request of these messages, without a body. */
    public static ChatRequest of(String model, List<Message> messages, @Nullable Long maxTokens) {
        return new ChatRequest(model, messages, maxTokens, false, null);
    }

    /**
     * Reads an OpenAI-compatible chat body (what {@code POST /v1/chat/completions} takes); the body is kept as is.
     *
     * @throws IllegalArgumentException if it is not JSON with a {@code model} and a {@code messages} array, or its
     *     {@code n} is not a positive integer
     */
    public static ChatRequest fromOpenAiJson(String body) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (Exception e) {
            throw new IllegalArgumentException("not a JSON chat request: " + e.getMessage(), e);
        }
        if (root == null || !root.path("model").isTextual() || !root.path("messages").isArray()) {
            throw new IllegalArgumentException("a chat request needs a 'model' string and a 'messages' array");
        }
        List<Message> messages = new ArrayList<>();
        int images = 0;
        for (JsonNode m : root.get("messages")) {
            JsonNode c = m.path("content");
            String content;
            if (c.isTextual()) {
                content = c.asText();
            } else if (c.isArray()) {
                StringBuilder sb = new StringBuilder();
                for (JsonNode part : c) {
                    if ("image_url".equals(part.path("type").asText())) {
                        images++;
                    } else {
                        sb.append(part.path("text").asText(""));
                    }
                }
                content = sb.toString();
            } else {
                content = c.isMissingNode() || c.isNull() ? "" : c.toString();
            }
            JsonNode calls = m.get("tool_calls");
            if (calls != null && !calls.isNull()) {
                content = content + calls; // counted, conservatively, as text
            }
            messages.add(new Message(m.path("role").asText("user"), content,
                    m.hasNonNull("name") ? m.get("name").asText() : null));
        }
        // both set: the larger, as providers differ in which one they honour
        long max = Math.max(root.path("max_completion_tokens").asLong(0), root.path("max_tokens").asLong(0));
        JsonNode n = root.path("n");
        int choices = 1;
        if (!n.isMissingNode() && !n.isNull()) {
            if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 1) {
                throw new IllegalArgumentException("'n' must be a positive integer, was " + n);
            }
            choices = n.asInt();
        }
        StringBuilder tools = new StringBuilder();
        for (String field : new String[] {"tools", "functions"}) {
            JsonNode t = root.get(field);
            if (t != null && !t.isNull()) {
                tools.append(t);
            }
        }
        return new ChatRequest(root.get("model").asText(), messages, max > 0 ? max : null,
                root.path("stream").asBoolean(false), body, choices, tools.length() == 0 ? null : tools.toString(),
                images);
    }
}

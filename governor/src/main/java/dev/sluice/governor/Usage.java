package dev.sluice.governor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jspecify.annotations.Nullable;

/**
 * The tokens a provider says a call used. Immutable.
 *
 * @param promptTokens input tokens
 * @param completionTokens output tokens
 */
public record Usage(long promptTokens, long completionTokens) {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Validates. */
    public Usage {
        if (promptTokens < 0 || completionTokens < 0) {
            throw new IllegalArgumentException("usage must not be negative");
        }
    }

    /** Input plus output. */
    public long totalTokens() {
        return promptTokens + completionTokens;
    }

    /**
     * The usage in an answer body: the {@code usage} of an OpenAI-compatible JSON answer (also Anthropic's
     * {@code input_tokens}/{@code output_tokens} and Gemini's {@code usageMetadata}), or of the last SSE event that
     * carries one (OpenAI's final usage chunk). Null if none is found; never throws.
     */
    public static @Nullable Usage fromBody(@Nullable String body) {
        if (body == null || body.isBlank()) {
            return null;
        }
        String t = body.stripLeading();
        if (t.startsWith("{")) {
            try {
                return fromJson(JSON.readTree(t));
            } catch (Exception e) {
                return null;
            }
        }
        Usage last = null;
        for (String line : t.split("\n")) {
            if (line.startsWith("data:")) {
                String data = line.substring(5).trim();
                if (data.startsWith("{") && data.contains("sage")) {
                    try {
                        Usage u = fromJson(JSON.readTree(data));
                        if (u != null) {
                            last = u;
                        }
                    } catch (Exception e) {
                        // not JSON: skip the event
                    }
                }
            }
        }
        return last;
    }

    /** The usage in a parsed answer or stream event, or null. */
    public static @Nullable Usage fromJson(@Nullable JsonNode root) {
        if (root == null) {
            return null;
        }
        JsonNode u = root.get("usage");
        if (u != null && u.isObject()) {
            if (u.has("prompt_tokens") || u.has("completion_tokens")) {
                return new Usage(u.path("prompt_tokens").asLong(0), u.path("completion_tokens").asLong(0));
            }
            if (u.has("input_tokens") || u.has("output_tokens")) {
                return new Usage(u.path("input_tokens").asLong(0), u.path("output_tokens").asLong(0));
            }
        }
        JsonNode g = root.get("usageMetadata");
        if (g != null && g.isObject()) {
            return new Usage(g.path("promptTokenCount").asLong(0), g.path("candidatesTokenCount").asLong(0));
        }
        return null;
    }
}

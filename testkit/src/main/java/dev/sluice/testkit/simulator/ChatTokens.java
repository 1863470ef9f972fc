package dev.sluice.testkit.simulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingRegistry;
import com.knuddels.jtokkit.api.EncodingType;
import java.util.Locale;

/**
 * The simulator's token counts: OpenAI's published chat formula (3 tokens per message, plus the tokens of its role,
 * content and name, plus 3 priming the reply) on {@code o200k_base} for the gpt-4o/4.1/o-series family and
 * {@code cl100k_base} for every other model. The governor's estimator uses the same formula, so for those models its
 * prompt estimate is exact.
 */
final class ChatTokens {

    private static final EncodingRegistry REGISTRY = Encodings.newLazyEncodingRegistry();
    private static final Encoding O200K = REGISTRY.getEncoding(EncodingType.O200K_BASE);
    private static final Encoding CL100K = REGISTRY.getEncoding(EncodingType.CL100K_BASE);

    private ChatTokens() {
    }

    static Encoding encodingFor(String model) {
        String m = model.toLowerCase(Locale.ROOT);
        boolean o200k = m.startsWith("gpt-4o") || m.startsWith("gpt-4.1") || m.startsWith("gpt-5")
                || m.startsWith("o1") || m.startsWith("o3") || m.startsWith("o4") || m.startsWith("chatgpt-4o");
        return o200k ? O200K : CL100K;
    }

    /** Loads the encodings (seconds), so that the first request is not slow. */
    static void load() {
        // the static initializer did it
    }

    /** Prompt tokens of a chat request's {@code messages} array. */
    static long promptTokens(String model, JsonNode messages) {
        Encoding enc = encodingFor(model);
        long n = 3;
        for (JsonNode m : messages) {
            n += message(enc, m);
        }
        return n;
    }

    /**
     * Input tokens of a Responses API request, by the same formula: {@code instructions} as a system message, a
     * string {@code input} as a user message, each message item of an {@code input} array as a message, and any
     * other item (a function call, its output, ...) as the tokens of its JSON text.
     */
    static long responsesInputTokens(String model, JsonNode request) {
        Encoding enc = encodingFor(model);
        long n = 3;
        JsonNode instructions = request.path("instructions");
        if (instructions.isTextual()) {
            n += 3 + enc.countTokensOrdinary("system") + enc.countTokensOrdinary(instructions.asText());
        }
        JsonNode input = request.path("input");
        if (input.isTextual()) {
            n += 3 + enc.countTokensOrdinary("user") + enc.countTokensOrdinary(input.asText());
        } else if (input.isArray()) {
            for (JsonNode item : input) {
                boolean message = item.has("role") || "message".equals(item.path("type").asText());
                n += message ? message(enc, item) : enc.countTokensOrdinary(item.toString());
            }
        }
        return n;
    }

    /** One message: 3, plus the tokens of its role, of the text of its content, and of its name (plus 1). */
    private static long message(Encoding enc, JsonNode m) {
        long n = 3 + enc.countTokensOrdinary(m.path("role").asText(""));
        JsonNode content = m.path("content");
        if (content.isTextual()) {
            n += enc.countTokensOrdinary(content.asText());
        } else if (content.isArray()) {
            for (JsonNode part : content) {
                n += enc.countTokensOrdinary(part.path("text").asText(""));
            }
        }
        if (m.hasNonNull("name")) {
            n += 1 + enc.countTokensOrdinary(m.get("name").asText());
        }
        return n;
    }
}

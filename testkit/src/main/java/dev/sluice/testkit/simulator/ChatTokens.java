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

    /** Prompt tokens of a chat request's {@code messages} array. */
    /** Loads the encodings (seconds), so that the first request is not slow. */
    static void load() {
        // the static initializer did it
    }

    static long promptTokens(String model, JsonNode messages) {
        Encoding enc = encodingFor(model);
        long n = 3;
        for (JsonNode m : messages) {
            n += 3;
            n += enc.countTokensOrdinary(m.path("role").asText(""));
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
        }
        return n;
    }
}

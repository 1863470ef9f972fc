package dev.sluice.gateway.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingRegistry;
import com.knuddels.jtokkit.api.EncodingType;
import java.util.Locale;

/**
 * Estimates the tokens a call may use before it is sent: the prompt (OpenAI's published chat formula on
 * {@code o200k_base} for the gpt-4o/4.1/5/o-series and {@code cl100k_base} otherwise) plus the most the answer may
 * use. The estimate is reserved and later settled with the upstream's reported usage, so it need not be exact, only
 * not too low.
 */
public final class Tokens {

    private static final EncodingRegistry REGISTRY = Encodings.newLazyEncodingRegistry();

    private Tokens() {
    }

    /** Loads the encodings now (a second or two), so the first call does not pay for it on an event loop. */
    public static void warmUp() {
        REGISTRY.getEncoding(EncodingType.O200K_BASE).countTokensOrdinary("warm up");
        REGISTRY.getEncoding(EncodingType.CL100K_BASE).countTokensOrdinary("warm up");
    }

    static Encoding encodingFor(String model) {
        String m = model.toLowerCase(Locale.ROOT);
        boolean o200k = m.startsWith("gpt-4o") || m.startsWith("gpt-4.1") || m.startsWith("gpt-5")
                || m.startsWith("o1") || m.startsWith("o3") || m.startsWith("o4") || m.startsWith("chatgpt-4o");
        return REGISTRY.getEncoding(o200k ? EncodingType.O200K_BASE : EncodingType.CL100K_BASE);
    }

    /** Prompt tokens of a chat request: 3 per message plus role, content and name, plus 3 priming the reply. */
    public static long chatPrompt(String model, JsonNode messages) {
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
            JsonNode calls = m.path("tool_calls");
            if (calls.isArray()) {
                n += enc.countTokensOrdinary(calls.toString());
            }
        }
        return n;
    }

    /** Tokens of a completions {@code prompt} or an embeddings {@code input}: a string, strings, or token arrays. */
    public static long text(String model, JsonNode input) {
        Encoding enc = encodingFor(model);
        if (input.isTextual()) {
            return enc.countTokensOrdinary(input.asText());
        }
        long n = 0;
        if (input.isArray()) {
            for (JsonNode e : input) {
                if (e.isTextual()) {
                    n += enc.countTokensOrdinary(e.asText());
                } else if (e.isArray()) {
                    n += e.size();
                } else if (e.isNumber()) {
                    n += 1;
                }
            }
        }
        return n;
    }
}

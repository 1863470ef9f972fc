package dev.sluice.governor;

import com.fasterxml.jackson.databind.JsonNode;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingRegistry;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Estimates the prompt tokens of a chat request before it is sent.
 *
 * <ul>
 *   <li>With a jtokkit encoding (the profile's {@code encoding}: {@code o200k_base}, {@code cl100k_base},
 *       {@code p50k_base}, {@code r50k_base}), OpenAI's published chat formula: 3 tokens per message plus the tokens
 *       of its role, content and name (+1 for a name), plus 3 priming the reply. Exact for OpenAI's chat models.</li>
 *   <li>Otherwise a conservative estimate: one token per 3 bytes of UTF-8 (rounded up) of each role, content and
 *       name, plus the same per-message overhead. English text averages about 4 characters per token in the
 *       common tokenizers and CJK text about one token per character (3 bytes), so this over-estimates both; the
 *       settlement gives the difference back once the provider reports the real usage.</li>
 * </ul>
 *
 * Thread-safe.
 */
public final class TokenEstimator {

    /** One registry and one load of each encoding per JVM: loading one takes seconds and much memory. */
    private static final EncodingRegistry REGISTRY = Encodings.newLazyEncodingRegistry();
    private static final java.util.Map<String, Optional<Encoding>> ENCODINGS =
            new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * The prompt tokens of {@code request} under {@code profile}'s tokenizer, each image part counted as the profile's
     * {@link ModelProfile#imageTokens()}; {@link Long#MAX_VALUE} if that does not fit a long.
     */
    public long promptTokens(ModelProfile profile, ChatRequest request) {
        Optional<Encoding> enc = encoding(profile.encoding());
        long n = 3;
        for (ChatRequest.Message m : request.messages()) {
            n += 3 + count(enc, m.role()) + count(enc, m.content());
            if (m.name() != null) {
                n += 1 + count(enc, m.name());
            }
        }
        String tools = request.tools();
        if (tools != null) {
            n += count(enc, tools); // the definitions' JSON: above the provider's own rendering of them
        }
        try {
            return Math.addExact(n, Math.multiplyExact(profile.imageTokens(), (long) request.images()));
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    /**
     * The output to reserve: the request's {@code max_tokens}, or the profile's default, for each of the answers it
     * asks for ({@code n}); {@link Long#MAX_VALUE} if that does not fit a long.
     */
    public long maxOutputTokens(ModelProfile profile, ChatRequest request) {
        Long max = request.maxTokens();
        long each = max != null ? max : profile.defaultMaxTokens();
        try {
            return Math.multiplyExact(each, request.choices());
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    /**
     * The jtokkit encoding OpenAI uses for {@code model}: {@code o200k_base} for the gpt-4o, gpt-4.1, gpt-5 and
     * o-series models, {@code cl100k_base} otherwise.
     */
    public static String openAiEncoding(String model) {
        String m = model.toLowerCase(java.util.Locale.ROOT);
        boolean o200k = m.startsWith("gpt-4o") || m.startsWith("gpt-4.1") || m.startsWith("gpt-5")
                || m.startsWith("o1") || m.startsWith("o3") || m.startsWith("o4") || m.startsWith("chatgpt-4o");
        return o200k ? "o200k_base" : "cl100k_base";
    }

    /**
     * Prompt tokens of an OpenAI chat {@code messages} array (raw JSON, as a proxy sees it) under {@code encoding},
     * or the conservative estimate when it is null or unknown: the same chat formula, with text content parts and
     * the JSON of tool calls counted too.
     */
    public static long chatPromptTokens(@org.jspecify.annotations.Nullable String encoding, JsonNode messages) {
        return chatPromptTokens(encoding, messages, 0);
    }

    /**
     * As {@link #chatPromptTokens(String, JsonNode)}, with {@code imageTokens} for each {@code image_url} part of a
     * message's content (the text of its URL, or of its base64 data, is not counted).
     *
     * @throws ArithmeticException if the count does not fit a {@code long}
     */
    public static long chatPromptTokens(@org.jspecify.annotations.Nullable String encoding, JsonNode messages,
            long imageTokens) {
        Optional<Encoding> enc = encoding(encoding);
        long n = 3;
        for (JsonNode m : messages) {
            n += 3 + count(enc, m.path("role").asText(""));
            n = Math.addExact(n, contentTokens(enc, m.path("content"), imageTokens));
            if (m.hasNonNull("name")) {
                n += 1 + count(enc, m.get("name").asText());
            }
            JsonNode calls = m.path("tool_calls");
            if (calls.isArray()) {
                n += count(enc, calls.toString());
            }
        }
        return n;
    }

    /**
     * Input tokens of a raw OpenAI Responses API request ({@code POST /v1/responses}) by the chat formula:
     * {@code instructions} as a system message; a string {@code input} as a user message; each message item of an
     * {@code input} array (one with a {@code role}) as a message, its {@code input_image} parts as
     * {@code imageTokens} each; any other item (a function call, its output, a reasoning item, ...) as the tokens of
     * its JSON text, above what the provider counts for it. Not counted, as the request does not hold them: the
     * context a {@code previous_response_id} or {@code conversation} brings, a stored {@code prompt} template, and
     * {@code input_file} parts; the settlement on the provider's reported usage charges them afterwards. The
     * request's {@code tools} are counted by {@link #toolTokens}.
     *
     * @throws ArithmeticException if the count does not fit a {@code long}
     */
    public static long responsesInputTokens(@org.jspecify.annotations.Nullable String encoding, JsonNode request,
            long imageTokens) {
        Optional<Encoding> enc = encoding(encoding);
        long n = 3;
        JsonNode instructions = request.path("instructions");
        if (instructions.isTextual()) {
            n += 3 + count(enc, "system") + count(enc, instructions.asText());
        }
        JsonNode input = request.path("input");
        if (input.isTextual()) {
            n += 3 + count(enc, "user") + count(enc, input.asText());
        } else if (input.isArray()) {
            for (JsonNode item : input) {
                if (item.has("role") || "message".equals(item.path("type").asText())) {
                    n += 3 + count(enc, item.path("role").asText(""));
                    n = Math.addExact(n, contentTokens(enc, item.path("content"), imageTokens));
                } else {
                    n += count(enc, item.toString());
                }
            }
        }
        return n;
    }

    /**
     * A message's content: a string, or parts whose {@code text} (and a refusal's {@code refusal}) is counted and
     * whose images ({@code image_url} in chat, {@code input_image} in the Responses API) are {@code imageTokens} each.
     */
    private static long contentTokens(Optional<Encoding> enc, JsonNode content, long imageTokens) {
        if (content.isTextual()) {
            return count(enc, content.asText());
        }
        long n = 0;
        if (content.isArray()) {
            for (JsonNode part : content) {
                String type = part.path("type").asText();
                if (type.equals("image_url") || type.equals("input_image")) {
                    n = Math.addExact(n, imageTokens);
                } else {
                    n += count(enc, part.path("text").asText("")) + count(enc, part.path("refusal").asText(""));
                }
            }
        }
        return n;
    }

    /**
     * Prompt tokens of a raw chat request's {@code tools} and {@code functions} definitions (their JSON, counted as
     * text: above the provider's own rendering of them), 0 if it has none.
     */
    public static long toolTokens(@org.jspecify.annotations.Nullable String encoding, JsonNode request) {
        Optional<Encoding> enc = encoding(encoding);
        long n = 0;
        for (String field : new String[] {"tools", "functions"}) {
            JsonNode t = request.get(field);
            if (t != null && !t.isNull()) {
                n += count(enc, t.toString());
            }
        }
        return n;
    }

    /**
     * Tokens of a completions {@code prompt} or an embeddings {@code input} under {@code encoding}: a string, an array
     * of strings, or arrays of token ids (counted as they are).
     */
    public static long textTokens(@org.jspecify.annotations.Nullable String encoding, JsonNode input) {
        Optional<Encoding> enc = encoding(encoding);
        if (input.isTextual()) {
            return count(enc, input.asText());
        }
        long n = 0;
        if (input.isArray()) {
            for (JsonNode e : input) {
                if (e.isTextual()) {
                    n += count(enc, e.asText());
                } else if (e.isArray()) {
                    n += e.size();
                } else if (e.isNumber()) {
                    n += 1;
                }
            }
        }
        return n;
    }

    /** The encoding named, loaded once; empty for null or a name jtokkit does not know. */
    static Optional<Encoding> encoding(@org.jspecify.annotations.Nullable String name) {
        if (name == null) {
            return Optional.empty();
        }
        return ENCODINGS.computeIfAbsent(name, REGISTRY::getEncoding);
    }

    private static long count(Optional<Encoding> enc, String text) {
        if (enc.isPresent()) {
            return enc.get().countTokensOrdinary(text);
        }
        return conservative(text);
    }

    /** One token per 3 bytes of UTF-8, rounded up. */
    static long conservative(String text) {
        long bytes = text.getBytes(StandardCharsets.UTF_8).length;
        return (bytes + 2) / 3;
    }
}

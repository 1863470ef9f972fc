package dev.sluice.governor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.core.Durations;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Reads what providers say about their limits: {@code retry-after} (seconds or HTTP date), {@code retry-after-ms},
 * OpenAI's and Groq's {@code x-ratelimit-limit|remaining|reset-requests|tokens} (durations such as {@code 6m0s},
 * {@code 1.5s}, {@code 20ms}), {@code anthropic-ratelimit-*} (RFC 3339 reset times), Gemini's {@code retryDelay} and
 * {@code quotaId} in a 429 body, and OpenAI's error {@code type}, {@code code} and "try again in" message.
 *
 * <p>Never throws: a malformed value is ignored with a warning on the {@code dev.sluice.governor} logger, and the
 * rest of the answer is still read.
 */
public final class ProviderSignals {

    private static final System.Logger LOG = System.getLogger("dev.sluice.governor");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern TRY_AGAIN = Pattern.compile("(?:try again|retry) in ([0-9.]+(?:ns|us|ms|s|m|h)"
            + "(?:[0-9.]+(?:ms|s))*)", Pattern.CASE_INSENSITIVE);

    private ProviderSignals() {
    }

    /**
     * Reads one answer.
     *
     * @param status the HTTP status
     * @param headers the headers (names in any case)
     * @param body the body, if read (only 429 bodies are looked into)
     * @param now the time to measure HTTP dates and reset times against
     */
    public static ProviderSignal read(int status, Map<String, List<String>> headers, @Nullable String body,
            Instant now) {
        try {
            return readUnsafe(status, name -> first(headers, name), body, now);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "ignoring unreadable rate-limit information: " + e);
            return status == 429 ? withKind(ProviderSignal.EMPTY, ProviderSignal.Kind.UNKNOWN) : ProviderSignal.EMPTY;
        }
    }

    private static ProviderSignal readUnsafe(int status, Function<String, @Nullable String> h, @Nullable String body,
            Instant now) {
        Duration retryAfter = retryAfterMs(h.apply("retry-after-ms"));
        if (retryAfter == null) {
            retryAfter = retryAfter(h.apply("retry-after"), now);
        }
        long limitRequests = count("x-ratelimit-limit-requests", h);
        long remainingRequests = count("x-ratelimit-remaining-requests", h);
        Duration resetRequests = duration("x-ratelimit-reset-requests", h);
        long limitTokens = count("x-ratelimit-limit-tokens", h);
        long remainingTokens = count("x-ratelimit-remaining-tokens", h);
        Duration resetTokens = duration("x-ratelimit-reset-tokens", h);
        if (limitRequests < 0) {
            limitRequests = count("anthropic-ratelimit-requests-limit", h);
        }
        if (remainingRequests < 0) {
            remainingRequests = count("anthropic-ratelimit-requests-remaining", h);
        }
        if (resetRequests == null) {
            resetRequests = instant("anthropic-ratelimit-requests-reset", h, now);
        }
        if (limitTokens < 0) {
            limitTokens = count("anthropic-ratelimit-tokens-limit", h);
        }
        if (remainingTokens < 0) {
            remainingTokens = count("anthropic-ratelimit-tokens-remaining", h);
        }
        if (resetTokens == null) {
            resetTokens = instant("anthropic-ratelimit-tokens-reset", h, now);
        }
        long limitIn = count("anthropic-ratelimit-input-tokens-limit", h);
        long remainingIn = count("anthropic-ratelimit-input-tokens-remaining", h);
        long limitOut = count("anthropic-ratelimit-output-tokens-limit", h);
        long remainingOut = count("anthropic-ratelimit-output-tokens-remaining", h);

        ProviderSignal.Kind kind = ProviderSignal.Kind.NONE;
        if (status == 429 || status == 403 && body != null && body.contains("RESOURCE_EXHAUSTED")) {
            BodyInfo info = body(body);
            kind = info.kind;
            if (retryAfter == null) {
                retryAfter = info.retryDelay;
            }
            if (kind == ProviderSignal.Kind.UNKNOWN) {
                kind = remainingRequests == 0 ? ProviderSignal.Kind.REQUESTS
                        : remainingTokens == 0 || remainingIn == 0 || remainingOut == 0 ? ProviderSignal.Kind.TOKENS
                        : ProviderSignal.Kind.UNKNOWN;
            }
        }
        return new ProviderSignal(retryAfter, limitRequests, remainingRequests, resetRequests, limitTokens,
                remainingTokens, resetTokens, limitIn, remainingIn, limitOut, remainingOut, kind);
    }

    private record BodyInfo(ProviderSignal.Kind kind, @Nullable Duration retryDelay) {
    }

    private static BodyInfo body(@Nullable String body) {
        if (body == null || body.isBlank()) {
            return new BodyInfo(ProviderSignal.Kind.UNKNOWN, null);
        }
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (Exception e) {
            warn("429 body", body, "not JSON");
            return new BodyInfo(ProviderSignal.Kind.UNKNOWN, null);
        }
        if (root != null && root.isArray() && !root.isEmpty()) {
            root = root.get(0); // Gemini's OpenAI-compatible endpoint wraps the error in an array
        }
        JsonNode error = root == null ? null : root.get("error");
        if (error == null || !error.isObject()) {
            return new BodyInfo(ProviderSignal.Kind.UNKNOWN, null);
        }
        Duration delay = null;
        ProviderSignal.Kind kind = ProviderSignal.Kind.UNKNOWN;
        JsonNode details = error.get("details");
        if (details != null && details.isArray()) {
            for (JsonNode d : details) {
                String type = d.path("@type").asText("");
                if (type.endsWith("RetryInfo")) {
                    String v = d.path("retryDelay").asText(null);
                    delay = Durations.parse(v);
                    if (delay == null) {
                        warn("retryDelay", v, "not a duration");
                    }
                } else if (type.endsWith("QuotaFailure")) {
                    for (JsonNode v : d.path("violations")) {
                        kind = max(kind, quotaKind(v.path("quotaId").asText("") + " "
                                + v.path("quotaMetric").asText("")));
                    }
                }
            }
        }
        String code = error.path("code").asText("");
        String type = error.path("type").asText("");
        String message = error.path("message").asText("");
        if (kind == ProviderSignal.Kind.UNKNOWN) {
            String m = message.toLowerCase(Locale.ROOT);
            if (code.equals("insufficient_quota")) {
                kind = ProviderSignal.Kind.QUOTA;
            } else if (m.contains("per day") || m.contains("(rpd)") || m.contains("(tpd)") || m.contains("daily")) {
                kind = ProviderSignal.Kind.DAILY;
            } else if (m.contains("concurrent")) {
                kind = ProviderSignal.Kind.CONCURRENCY;
            } else if (type.equals("tokens") || m.contains("tokens per min") || m.contains("(tpm)")) {
                kind = ProviderSignal.Kind.TOKENS;
            } else if (type.equals("requests") || m.contains("requests per min") || m.contains("(rpm)")) {
                kind = ProviderSignal.Kind.REQUESTS;
            }
        }
        if (delay == null) {
            Matcher tm = TRY_AGAIN.matcher(message);
            if (tm.find()) {
                delay = Durations.parse(tm.group(1));
            }
        }
        return new BodyInfo(kind, delay);
    }

    private static ProviderSignal.Kind quotaKind(String quotaId) {
        String q = quotaId.toLowerCase(Locale.ROOT);
        if (q.contains("perday")) {
            return ProviderSignal.Kind.DAILY;
        }
        if (q.contains("concurrent")) {
            return ProviderSignal.Kind.CONCURRENCY;
        }
        if (q.contains("token")) {
            return ProviderSignal.Kind.TOKENS;
        }
        if (q.contains("request")) {
            return ProviderSignal.Kind.REQUESTS;
        }
        return ProviderSignal.Kind.UNKNOWN;
    }

    /** The more lasting of two kinds: a daily refusal outranks a per-minute one. */
    private static ProviderSignal.Kind max(ProviderSignal.Kind a, ProviderSignal.Kind b) {
        return rank(b) > rank(a) ? b : a;
    }

    private static int rank(ProviderSignal.Kind k) {
        return switch (k) {
            case DAILY -> 4;
            case TOKENS -> 3;
            case REQUESTS -> 2;
            case CONCURRENCY -> 1;
            default -> 0;
        };
    }

    private static ProviderSignal withKind(ProviderSignal s, ProviderSignal.Kind kind) {
        return new ProviderSignal(s.retryAfter(), s.limitRequests(), s.remainingRequests(), s.resetRequests(),
                s.limitTokens(), s.remainingTokens(), s.resetTokens(), s.limitInputTokens(), s.remainingInputTokens(),
                s.limitOutputTokens(), s.remainingOutputTokens(), kind);
    }

    static @Nullable Duration retryAfterMs(@Nullable String v) {
        if (v == null) {
            return null;
        }
        try {
            double ms = Double.parseDouble(v.trim());
            if (ms >= 0 && ms < 1e12) {
                return Duration.ofNanos((long) Math.ceil(ms * 1_000_000));
            }
        } catch (NumberFormatException e) {
            // below
        }
        warn("retry-after-ms", v, "not a number of milliseconds");
        return null;
    }

    static @Nullable Duration retryAfter(@Nullable String v, Instant now) {
        if (v == null) {
            return null;
        }
        String t = v.trim();
        try {
            double s = Double.parseDouble(t);
            if (s >= 0 && s < 1e9) {
                return Duration.ofNanos((long) Math.ceil(s * 1e9));
            }
        } catch (NumberFormatException e) {
            try {
                Instant at = ZonedDateTime.parse(t, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
                return at.isAfter(now) ? Duration.between(now, at) : Duration.ZERO;
            } catch (RuntimeException e2) {
                // below
            }
        }
        warn("retry-after", v, "neither seconds nor an HTTP date");
        return null;
    }

    private static long count(String name, Function<String, @Nullable String> h) {
        String v = h.apply(name);
        if (v == null) {
            return -1;
        }
        try {
            long n = Long.parseLong(v.trim());
            if (n >= 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // below
        }
        warn(name, v, "not a count");
        return -1;
    }

    private static @Nullable Duration duration(String name, Function<String, @Nullable String> h) {
        String v = h.apply(name);
        if (v == null) {
            return null;
        }
        Duration d = Durations.parse(v);
        if (d == null || d.isNegative()) {
            warn(name, v, "not a duration");
            return null;
        }
        return d;
    }

    private static @Nullable Duration instant(String name, Function<String, @Nullable String> h, Instant now) {
        String v = h.apply(name);
        if (v == null) {
            return null;
        }
        try {
            Instant at = OffsetDateTime.parse(v.trim()).toInstant();
            return at.isAfter(now) ? Duration.between(now, at) : Duration.ZERO;
        } catch (RuntimeException e) {
            warn(name, v, "not an RFC 3339 time");
            return null;
        }
    }

    private static void warn(String name, @Nullable String value, String why) {
        String shown = value == null ? "null" : value.length() > 60 ? value.substring(0, 60) + "..." : value;
        LOG.log(Level.WARNING, "ignoring malformed " + name + " '" + shown + "': " + why);
    }

    private static @Nullable String first(Map<String, List<String>> headers, String name) {
        for (Map.Entry<String, List<String>> e : headers.entrySet()) {
            if (e.getKey() != null && e.getKey().equalsIgnoreCase(name) && !e.getValue().isEmpty()) {
                return e.getValue().get(0);
            }
        }
        return null;
    }
}

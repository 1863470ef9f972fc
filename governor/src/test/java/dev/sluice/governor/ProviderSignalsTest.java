package dev.sluice.governor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.core.Durations;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** Samples in the formats providers really send, and malformed ones. */
class ProviderSignalsTest {

    private static final Instant NOW = Instant.parse("2026-11-28T12:00:00Z");

    private static Map<String, List<String>> headers(String... kv) {
        Map<String, List<String>> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], List.of(kv[i + 1]));
        }
        return m;
    }

    @Test
    @DisplayName("OpenAI success headers: limits, remaining and Go-style reset durations")
    void openAiHeaders() {
        ProviderSignal s = ProviderSignals.read(200, headers(
                "x-ratelimit-limit-requests", "60",
                "x-ratelimit-limit-tokens", "150000",
                "x-ratelimit-remaining-requests", "59",
                "x-ratelimit-remaining-tokens", "149984",
                "x-ratelimit-reset-requests", "1s",
                "x-ratelimit-reset-tokens", "6m0s"), null, NOW);
        assertThat(s.limitRequests()).isEqualTo(60);
        assertThat(s.remainingRequests()).isEqualTo(59);
        assertThat(s.limitTokens()).isEqualTo(150_000);
        assertThat(s.remainingTokens()).isEqualTo(149_984);
        assertThat(s.resetRequests()).isEqualTo(Duration.ofSeconds(1));
        assertThat(s.resetTokens()).isEqualTo(Duration.ofMinutes(6));
        assertThat(s.kind()).isEqualTo(ProviderSignal.Kind.NONE);
    }

    @Test
    @DisplayName("Reset durations as Groq and OpenAI write them: 1.5s, 20ms, 2m59.56s, 1h2m3s, 7.66s")
    void durations() {
        assertThat(Durations.parse("1.5s")).isEqualTo(Duration.ofMillis(1500));
        assertThat(Durations.parse("20ms")).isEqualTo(Duration.ofMillis(20));
        assertThat(Durations.parse("2m59.56s")).isEqualTo(Duration.ofMillis(179_560));
        assertThat(Durations.parse("1h2m3s")).isEqualTo(Duration.ofSeconds(3723));
        assertThat(Durations.parse("7.66s")).isEqualTo(Duration.ofMillis(7660));
        assertThat(Durations.parse("0.437s")).isEqualTo(Duration.ofMillis(437));
        assertThat(Durations.parse("PT1M")).isEqualTo(Duration.ofMinutes(1));
        assertThat(Durations.parse("30")).isEqualTo(Duration.ofSeconds(30));
        assertThat(Durations.parse("soon")).isNull();
        assertThat(Durations.parse("1x")).isNull();
        assertThat(Durations.parse("")).isNull();
        assertThat(Durations.parse("5s garbage")).isNull();
    }

    @Test
    @DisplayName("OpenAI 429: retry-after-ms wins over retry-after; the body says requests, tokens or per day")
    void openAi429() {
        String body = "{\"error\":{\"message\":\"Rate limit reached for gpt-4o-mini in organization org-x on tokens"
                + " per min (TPM): Limit 200000, Used 199000, Requested 1500. Please try again in 150ms.\","
                + "\"type\":\"tokens\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}";
        ProviderSignal s = ProviderSignals.read(429, headers("retry-after", "1", "retry-after-ms", "150",
                "x-ratelimit-remaining-tokens", "1000"), body, NOW);
        assertThat(s.retryAfter()).isEqualTo(Duration.ofMillis(150));
        assertThat(s.kind()).isEqualTo(ProviderSignal.Kind.TOKENS);
        assertThat(s.retryable()).isTrue();

        String daily = "{\"error\":{\"message\":\"Rate limit reached for gpt-4o-mini in organization org-x on"
                + " requests per day (RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s.\","
                + "\"type\":\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}";
        ProviderSignal d = ProviderSignals.read(429, headers(), daily, NOW);
        assertThat(d.kind()).isEqualTo(ProviderSignal.Kind.DAILY);
        assertThat(d.retryable()).isFalse();
        assertThat(d.retryAfter()).as("from the message").isEqualTo(Duration.ofSeconds(432));

        String quota = "{\"error\":{\"message\":\"You exceeded your current quota, please check your plan and billing"
                + " details.\",\"type\":\"insufficient_quota\",\"param\":null,\"code\":\"insufficient_quota\"}}";
        assertThat(ProviderSignals.read(429, headers(), quota, NOW).kind()).isEqualTo(ProviderSignal.Kind.QUOTA);
    }

    @Test
    @DisplayName("retry-after as an HTTP date counts from now; a date in the past means zero")
    void retryAfterHttpDate() {
        ProviderSignal s = ProviderSignals.read(429, headers("Retry-After", "Sat, 28 Nov 2026 12:00:30 GMT"), null,
                NOW);
        assertThat(s.retryAfter()).isEqualTo(Duration.ofSeconds(30));
        assertThat(ProviderSignals.read(429, headers("retry-after", "Sat, 28 Nov 2026 11:00:00 GMT"), null, NOW)
                .retryAfter()).isEqualTo(Duration.ZERO);
        assertThat(ProviderSignals.read(429, headers("retry-after", "2.5"), null, NOW).retryAfter())
                .isEqualTo(Duration.ofMillis(2500));
    }

    @Test
    @DisplayName("Anthropic headers: RFC 3339 resets, input and output token limits")
    void anthropic() {
        ProviderSignal s = ProviderSignals.read(429, headers(
                "anthropic-ratelimit-requests-limit", "50",
                "anthropic-ratelimit-requests-remaining", "0",
                "anthropic-ratelimit-requests-reset", "2026-11-28T12:00:12Z",
                "anthropic-ratelimit-tokens-limit", "40000",
                "anthropic-ratelimit-tokens-remaining", "31000",
                "anthropic-ratelimit-tokens-reset", "2026-11-28T12:00:01Z",
                "anthropic-ratelimit-input-tokens-limit", "30000",
                "anthropic-ratelimit-input-tokens-remaining", "24000",
                "anthropic-ratelimit-output-tokens-limit", "8000",
                "anthropic-ratelimit-output-tokens-remaining", "7000",
                "retry-after", "12"),
                "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"This request would exceed"
                        + " the rate limit for your organization of 50 requests per minute.\"}}", NOW);
        assertThat(s.limitRequests()).isEqualTo(50);
        assertThat(s.remainingRequests()).isZero();
        assertThat(s.resetRequests()).isEqualTo(Duration.ofSeconds(12));
        assertThat(s.resetTokens()).isEqualTo(Duration.ofSeconds(1));
        assertThat(s.limitInputTokens()).isEqualTo(30_000);
        assertThat(s.remainingOutputTokens()).isEqualTo(7000);
        assertThat(s.retryAfter()).isEqualTo(Duration.ofSeconds(12));
        assertThat(s.kind()).isEqualTo(ProviderSignal.Kind.REQUESTS);
    }

    @Test
    @DisplayName("Gemini 429 body: retryDelay, and the quotaId tells per-minute from per-day (also wrapped in an array)")
    void gemini() {
        String body = "{\"error\":{\"code\":429,\"message\":\"You exceeded your current quota, please check your plan"
                + " and billing details.\",\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":"
                + "\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[{\"quotaMetric\":"
                + "\"generativelanguage.googleapis.com/generate_content_free_tier_requests\",\"quotaId\":"
                + "\"GenerateRequestsPerMinutePerProjectPerModel-FreeTier\",\"quotaDimensions\":{\"location\":"
                + "\"global\",\"model\":\"gemini-2.0-flash\"},\"quotaValue\":\"15\"}]},{\"@type\":"
                + "\"type.googleapis.com/google.rpc.Help\",\"links\":[{\"description\":\"Learn more\",\"url\":"
                + "\"https://ai.google.dev/gemini-api/docs/rate-limits\"}]},{\"@type\":"
                + "\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"43s\"}]}}";
        ProviderSignal s = ProviderSignals.read(429, headers(), body, NOW);
        assertThat(s.retryAfter()).isEqualTo(Duration.ofSeconds(43));
        assertThat(s.kind()).isEqualTo(ProviderSignal.Kind.REQUESTS);

        String daily = "[" + body.replace("PerMinute", "PerDay").replace("\"43s\"", "\"0.437s\"") + "]";
        ProviderSignal d = ProviderSignals.read(429, headers(), daily, NOW);
        assertThat(d.kind()).isEqualTo(ProviderSignal.Kind.DAILY);
        assertThat(d.retryAfter()).isEqualTo(Duration.ofMillis(437));
    }

    @Test
    @DisplayName("Malformed values are ignored with a warning, never thrown; the rest is still read")
    void malformed() {
        ProviderSignal s = ProviderSignals.read(429, headers(
                "retry-after", "tomorrow-ish",
                "retry-after-ms", "-5",
                "x-ratelimit-limit-requests", "sixty",
                "x-ratelimit-remaining-requests", "-1",
                "x-ratelimit-reset-requests", "1.5 seconds",
                "x-ratelimit-limit-tokens", "1000",
                "anthropic-ratelimit-tokens-reset", "next tuesday"),
                "{\"error\":{\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\","
                        + "\"retryDelay\":\"forty\"}]}}", NOW);
        assertThat(s.retryAfter()).isNull();
        assertThat(s.limitRequests()).isEqualTo(-1);
        assertThat(s.remainingRequests()).isEqualTo(-1);
        assertThat(s.resetRequests()).isNull();
        assertThat(s.limitTokens()).isEqualTo(1000);
        assertThat(s.kind()).isEqualTo(ProviderSignal.Kind.UNKNOWN);

        assertThat(ProviderSignals.read(429, headers(), "<html>Too Many Requests</html>", NOW).kind())
                .isEqualTo(ProviderSignal.Kind.UNKNOWN);
        assertThat(ProviderSignals.read(429, headers(), "{\"error\":\"plain string\"}", NOW).kind())
                .isEqualTo(ProviderSignal.Kind.UNKNOWN);
        assertThat(ProviderSignals.read(200, headers(), "{{{", NOW)).isEqualTo(ProviderSignal.EMPTY);
    }
}

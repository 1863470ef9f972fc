package dev.sluice.governor;

import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * What one provider answer said about its limits, read by {@link ProviderSignals}. Counts are -1 and durations null
 * where the answer did not say (or said something unreadable). Immutable.
 *
 * @param retryAfter how long to wait before retrying ({@code retry-after-ms}, {@code retry-after}, Gemini's
 *     {@code retryDelay}, or "try again in" in an OpenAI-style message, in that order of preference)
 * @param limitRequests the request limit the provider reports
 * @param remainingRequests requests left
 * @param resetRequests until the request limit is back to full
 * @param limitTokens the token limit
 * @param remainingTokens tokens left
 * @param resetTokens until the token limit is back to full
 * @param limitInputTokens Anthropic's input-token limit
 * @param remainingInputTokens input tokens left
 * @param limitOutputTokens Anthropic's output-token limit
 * @param remainingOutputTokens output tokens left
 * @param kind what a 429 was about; {@link Kind#NONE} for other answers
 */
public record ProviderSignal(@Nullable Duration retryAfter, long limitRequests, long remainingRequests,
        @Nullable Duration resetRequests, long limitTokens, long remainingTokens, @Nullable Duration resetTokens,
        long limitInputTokens, long remainingInputTokens, long limitOutputTokens, long remainingOutputTokens,
        Kind kind) {

    /** What a rejection was about. */
    public enum Kind {
        /** Not a rejection. */
        NONE,
        /** The short-window request limit. */
        REQUESTS,
        /** The short-window token limit (or input/output tokens). */
        TOKENS,
        /** A daily limit: nothing more until the daily reset. Not retried. */
        DAILY,
        /** Too many requests at once. */
        CONCURRENCY,
        /** Quota or billing exhausted (OpenAI's {@code insufficient_quota}): not retried. */
        QUOTA,
        /** A 429 that did not say why. */
        UNKNOWN
    }

    /** Nothing known. */
    public static final ProviderSignal EMPTY =
            new ProviderSignal(null, -1, -1, null, -1, -1, null, -1, -1, -1, -1, Kind.NONE);

    /** Whether a retry can ever help (false for daily and billing quotas). */
    public boolean retryable() {
        return kind != Kind.DAILY && kind != Kind.QUOTA;
    }
}

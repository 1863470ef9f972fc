package dev.sluice.governor;

/**
 * Which rate-limit headers a provider sends and what they count. The parser reads every format it knows; the
 * dialect tells the governor how to map what it read onto the profile's limits.
 */
public enum HeaderDialect {
    /** {@code x-ratelimit-*-requests|tokens}: the requests and tokens of the short window (OpenAI). */
    OPENAI(false),
    /** {@code x-ratelimit-*-requests} counts requests per day, {@code -tokens} tokens per minute (Groq). */
    GROQ(true),
    /** {@code anthropic-ratelimit-*}: requests, tokens, input and output tokens of the short window. */
    ANTHROPIC(false),
    /** No rate-limit headers; 429 bodies carry {@code retryDelay} (Gemini). The governor adapts on its 429s. */
    GEMINI(false),
    /** No rate-limit headers at all. The governor adapts on its 429s. */
    NONE(false);

    private final boolean requestsHeaderIsDaily;

    HeaderDialect(boolean requestsHeaderIsDaily) {
        this.requestsHeaderIsDaily = requestsHeaderIsDaily;
    }

    /** Whether the requests headers describe the daily limit rather than the short window's. */
    public boolean requestsHeaderIsDaily() {
        return requestsHeaderIsDaily;
    }

    /** Whether the provider publishes its limits in headers; if not, the governor adapts by default. */
    public boolean publishesLimits() {
        return this != GEMINI && this != NONE;
    }
}

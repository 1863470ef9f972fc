package dev.sluice.testkit.simulator;

/** How the simulator words its 429s. */
public enum Dialect {
    /**
     * OpenAI: {@code x-ratelimit-limit|remaining|reset-requests|tokens} on every answer, {@code retry-after} and
     * {@code retry-after-ms} on 429s, and a body {@code {"error":{"message":..,"type":..,"code":"rate_limit_exceeded"}}}.
     */
    OPENAI,
    /**
     * Gemini: no rate-limit headers; a 429 body {@code {"error":{"code":429,"status":"RESOURCE_EXHAUSTED",
     * "details":[QuotaFailure, Help, RetryInfo{"retryDelay":"12.345s"}]}}}.
     */
    GEMINI
}

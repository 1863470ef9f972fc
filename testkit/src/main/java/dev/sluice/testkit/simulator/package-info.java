/**
 * A strict LLM-provider simulator: a real Vert.x HTTP server on a loopback port with an OpenAI-compatible
 * {@code POST /v1/chat/completions} (JSON and SSE streaming), deterministic answers and usage, configurable latency,
 * and exact sliding-window limits on requests, tokens, requests per day and concurrent requests. Over a limit it
 * answers 429 as OpenAI does (headers and body) or as Gemini does (body with {@code retryDelay}). Start it from a
 * test with {@link dev.sluice.testkit.simulator.ProviderSimulator#builder()}, or on its own with its {@code main}.
 */
@NullMarked
package dev.sluice.testkit.simulator;

import org.jspecify.annotations.NullMarked;

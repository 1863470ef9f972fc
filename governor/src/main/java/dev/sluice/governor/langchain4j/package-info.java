/**
 * Governs any langchain4j model that talks HTTP: an implementation of langchain4j's HTTP client SPI that sends chat
 * completions through a {@link dev.sluice.governor.Governor}. One builder line:
 * {@code OpenAiChatModel.builder().httpClientBuilder(new GovernedHttpClientBuilder(governor))}. It performs the HTTP
 * calls itself (with {@link java.net.http.HttpClient}) because langchain4j's {@code HttpException} carries no headers,
 * and the governor needs the 429's {@code retry-after} and {@code x-ratelimit-*}. Needs
 * {@code dev.langchain4j:langchain4j-http-client} on the class path (an optional dependency of the governor).
 */
@NullMarked
package dev.sluice.governor.langchain4j;

import org.jspecify.annotations.NullMarked;

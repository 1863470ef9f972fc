package dev.sluice.governor;

import java.util.concurrent.CompletionStage;

/**
 * Performs one attempt against the provider. The governor calls it once per attempt, after reserving quota; it must
 * hand back the status, the headers and the body (or the usage) so that the governor can settle and listen to the
 * provider. A failed stage (connection refused, timeout) counts as a retryable failure.
 */
@FunctionalInterface
public interface Upstream {

    /** Sends {@code attempt}; must not block the calling thread for the call's duration. */
    CompletionStage<UpstreamResponse> send(Attempt attempt);

    /** A blocking upstream, for {@link Governor#call(ChatRequest, Blocking)}. */
    @FunctionalInterface
    interface Blocking {
        /** Sends {@code attempt} and waits for the answer. */
        UpstreamResponse send(Attempt attempt) throws Exception;
    }
}

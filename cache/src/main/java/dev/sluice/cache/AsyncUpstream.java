package dev.sluice.cache;

import java.util.concurrent.CompletionStage;

/**
 * The non-blocking form of {@link Upstream}: acquire quota asynchronously, then ask the provider. It may be invoked on
 * a store's or the common pool's thread, so it must not block.
 */
@FunctionalInterface
public interface AsyncUpstream {

    /** Starts the call; the stage completes with the provider's answer or fails. */
    CompletionStage<LlmResponse> call();
}

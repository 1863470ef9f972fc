package dev.sluice.governor;

import java.time.Duration;

/**
 * The provider's last answer to a governed call, with what it took. When every attempt was refused the answer is
 * the last refusal (a 429 or other error), never an exception: the caller reads {@link #response()}'s status.
 *
 * @param response the provider's last answer
 * @param key the pool member that gave it
 * @param attempts how many attempts were made (1 without retries)
 * @param waited time spent waiting for quota, cooldowns and backoff before the attempts
 */
public record GovernedResponse(UpstreamResponse response, ProviderKey key, int attempts, Duration waited) {
}

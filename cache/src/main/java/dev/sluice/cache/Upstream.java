package dev.sluice.cache;

/**
 * The call the cache makes on a miss: acquire from the rate limiter, then ask the provider. Putting the limiter here,
 * inside the upstream and not before the cache, is what lets a hit consume no quota.
 */
@FunctionalInterface
public interface Upstream {

    /** Acquires quota and calls the provider; an exception reaches the caller (and any coalesced callers). */
    LlmResponse call() throws Exception;
}

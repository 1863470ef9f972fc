package dev.sluice.governor;

/**
 * One attempt of a governed call, handed to the {@link Upstream}: send {@link #request()} with {@link #key()}.
 *
 * @param request the call
 * @param key the pool member chosen for this attempt
 * @param number 1 for the first attempt, 2 for the first retry...
 */
public record Attempt(ChatRequest request, ProviderKey key, int number) {
}

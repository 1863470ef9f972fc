package dev.sluice.testkit.simulator;

/**
 * What a {@link ProviderSimulator} saw, over all keys, since it started or was {@linkplain ProviderSimulator#reset()
 * reset}.
 *
 * @param requests every chat request received
 * @param admitted requests admitted by the limits
 * @param rejected429 requests answered 429, all reasons together
 * @param rejectedConcurrency 429s for too many requests at once
 * @param rejectedRequests 429s on the requests window
 * @param rejectedTokens 429s on the tokens window (including requests larger than the whole window)
 * @param rejectedDaily 429s on the daily request limit
 * @param otherErrors 4xx answers other than 429 (malformed request, bad key)
 * @param promptTokens prompt tokens of admitted requests
 * @param completionTokens completion tokens of admitted requests
 * @param streamed admitted requests answered as a stream
 * @param maxInFlight the most requests in progress at once for one key
 */
public record SimulatorStats(long requests, long admitted, long rejected429, long rejectedConcurrency,
        long rejectedRequests, long rejectedTokens, long rejectedDaily, long otherErrors, long promptTokens,
        long completionTokens, long streamed, long maxInFlight) {

    /** Prompt plus completion tokens of admitted requests. */
    public long totalTokens() {
        return promptTokens + completionTokens;
    }
}

package dev.sluice.gateway;

/**
 * Names of the gateway's meters, served at {@code /metrics} in Prometheus format (dots become underscores). Tags are of
 * low cardinality: {@code endpoint}, {@code status}, {@code tenant} (configured names only), {@code provider},
 * {@code cache}, {@code scope}, {@code loop}; never a key, prompt or credential. The limiter's own meters
 * ({@code sluice.limiter.*}, limiter {@code gateway}) are served beside them.
 */
public final class GatewayMetricNames {

    /** Calls answered, by endpoint, status, tenant and cache outcome (hit, coalesced, miss, none). */
    public static final String REQUESTS = "sluice.gateway.requests";
    /** Time from a call's arrival to its response head (or its end for errors), by endpoint. */
    public static final String LATENCY = "sluice.gateway.latency";
    /** Time calls waited for quota before going upstream. */
    public static final String QUEUE_WAIT = "sluice.gateway.queue.wait";
    /** Calls refused for quota (429/503), by tenant and scope (tenant, provider, cooldown, queue_full, backend). */
    public static final String REFUSED = "sluice.gateway.refused";
    /** Calls sent upstream, by provider and status. */
    public static final String UPSTREAM = "sluice.gateway.upstream.requests";
    /**
     * Calls about a stored response (Responses API) sent again with another key of their pool after a 404, since
     * no record named the key that made the response, by provider.
     */
    public static final String AFFINITY_PROBES = "sluice.gateway.affinity.probes";
    /** Tokens settled from the upstream's reported usage, by tenant. */
    public static final String TOKENS = "sluice.gateway.tokens";
    /** Calls in progress. */
    public static final String IN_FLIGHT = "sluice.gateway.in.flight";
    /**
     * Open client connections, by {@code loop}: the name of the event-loop thread serving them (one per
     * {@code server.eventLoops}). A loop far above the others does most of the work.
     */
    public static final String CONNECTIONS = "sluice.gateway.connections";

    private GatewayMetricNames() {
    }
}

package dev.sluice.gateway.internal;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.cache.AsyncUpstream;
import dev.sluice.cache.CacheAnswer;
import dev.sluice.cache.CachePolicy;
import dev.sluice.cache.CacheRequest;
import dev.sluice.cache.CallOptions;
import dev.sluice.gateway.GatewayConfig;
import java.util.concurrent.CompletionStage;
import org.jspecify.annotations.Nullable;

/**
 * The gateway's one adapter to the {@code cache} module: answers repeated deterministic requests from the backend's
 * {@link CacheStore} and makes concurrent identical requests share one upstream call (single-flight, across instances
 * on a shared store), so a hit or a coalesced call costs no quota. The module decides what is cached (deterministic
 * requests; complete 200 answers only; embeddings opted in) and keys entries by tenant, provider, route and the
 * canonical request. Streams are never cached.
 */
public final class ResponseCache {

    private final CacheStore store;
    private final boolean shared;
    private volatile GatewayConfig.Cache settings;
    private volatile dev.sluice.cache.@Nullable ResponseCache cache;

    /** A cache on {@code store}; {@code shared} if other instances use the same store. */
    public ResponseCache(CacheStore store, boolean shared, GatewayConfig.Cache settings) {
        this.store = store;
        this.shared = shared;
        this.settings = settings;
        this.cache = build(settings);
    }

    private dev.sluice.cache.@Nullable ResponseCache build(GatewayConfig.Cache s) {
        if (!s.enabled()) {
            return null;
        }
        CachePolicy.Builder p = CachePolicy.builder().defaultTtl(s.ttl());
        if (!s.deterministicOnly()) {
            p.cacheAll();
        }
        return dev.sluice.cache.ResponseCache.builder(store).name("gateway").policy(p.build())
                .singleFlightAcrossInstances(shared).build();
    }

    /** Applies reloaded settings (a new cache on the same store: entries stay). */
    public void settings(GatewayConfig.Cache s) {
        if (s.equals(settings)) {
            return;
        }
        dev.sluice.cache.ResponseCache old = cache;
        settings = s;
        cache = build(s);
        if (old != null) {
            old.close();
        }
    }

    /** The cache request for this call, or null if it cannot be cached (cache off, a stream, several choices). */
    public @Nullable CacheRequest request(String tenant, String baseUrl, String route, ObjectNode body,
            boolean embeddings) {
        dev.sluice.cache.ResponseCache c = cache;
        if (c == null || body.path("stream").asBoolean(false) || body.path("n").asInt(1) > 1) {
            return null;
        }
        CacheRequest r = CacheRequest.builder().tenantId(tenant).baseUrl(baseUrl).route(route).body(body)
                .options(embeddings ? CallOptions.optingIn() : CallOptions.defaults()).build();
        return settings.deterministicOnly() && !embeddings && !CachePolicy.deterministic(body) ? null : r;
    }

    /** The answer: from the cache, from an identical call in flight, or from {@code upstream} (then stored). */
    public CompletionStage<CacheAnswer> call(CacheRequest request, AsyncUpstream upstream) {
        dev.sluice.cache.ResponseCache c = cache;
        if (c == null) {
            return upstream.call().thenApply(r -> new CacheAnswer(r, CacheAnswer.Source.BYPASSED));
        }
        return c.callAsync(request, upstream);
    }
}

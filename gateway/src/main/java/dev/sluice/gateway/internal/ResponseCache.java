package dev.sluice.gateway.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.gateway.GatewayConfig;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.jspecify.annotations.Nullable;

/**
 * Answers kept for identical requests, so a repeated call costs no quota and no upstream call. The key is a SHA-256
 * of the tenant, the endpoint and the request's canonical JSON (object keys sorted, {@code user} left out); only
 * non-streaming, deterministic requests are cached ({@code temperature: 0}, or a {@code seed}, or embeddings), unless
 * {@code cache.deterministicOnly} is false. Values are the upstream's answer bytes; no key or secret is stored.
 *
 * <p>This is the gateway's one adapter to a cache: the {@code cache} module (canonical keys, single-flight) plugs in
 * here when it is merged.
 */
public final class ResponseCache {

    private static final ObjectMapper CANONICAL = new ObjectMapper()
            .configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true);

    private final CacheStore store;
    private volatile GatewayConfig.Cache settings;

    /** A cache on {@code store}. */
    public ResponseCache(CacheStore store, GatewayConfig.Cache settings) {
        this.store = store;
        this.settings = settings;
    }

    /** Applies reloaded settings. */
    public void settings(GatewayConfig.Cache s) {
        this.settings = s;
    }

    /** The key for this request, or null if it must not be cached. */
    public @Nullable String key(String tenant, String endpoint, ObjectNode body, boolean embeddings) {
        GatewayConfig.Cache s = settings;
        if (!s.enabled() || body.path("stream").asBoolean(false) || body.path("n").asInt(1) > 1) {
            return null;
        }
        if (s.deterministicOnly() && !embeddings) {
            JsonNode t = body.get("temperature");
            boolean zero = t != null && t.isNumber() && t.asDouble() == 0.0;
            if (!zero && !body.hasNonNull("seed")) {
                return null;
            }
        }
        ObjectNode copy = body.deepCopy();
        copy.remove("user");
        try {
            Object tree = CANONICAL.convertValue(copy, Object.class);
            byte[] canonical = CANONICAL.writeValueAsBytes(tree);
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(tenant.getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
            md.update(endpoint.getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
            return "gw:" + HexFormat.of().formatHex(md.digest(canonical));
        } catch (NoSuchAlgorithmException | com.fasterxml.jackson.core.JsonProcessingException e) {
            return null;
        }
    }

    /** The stored answer, or null; a store failure is a miss. */
    public CompletionStage<byte @Nullable []> get(String key) {
        try {
            return store.getAsync(key).exceptionally(e -> null);
        } catch (RuntimeException e) {
            return CompletableFuture.completedFuture(null);
        }
    }

    /** Stores an answer; failures are ignored (the next identical call goes upstream). */
    public void put(String key, byte[] answer) {
        try {
            store.putAsync(key, answer, settings.ttl()).exceptionally(e -> null);
        } catch (RuntimeException e) {
            // ignored
        }
    }
}

package dev.sluice.gateway.internal;

import dev.sluice.api.Policy;
import dev.sluice.gateway.GatewayConfig;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * What one configuration resolves to: tenants and their gateway-key hashes, models and the key pools that serve
 * them, and the policy of every limiter key. Immutable; a reload builds a new one and swaps it in, while limiter
 * state stays in the backend under the same keys.
 *
 * <p>Limiter keys: {@code t:<tenant>} for a tenant, {@code p:<provider>:<keyId>} for one provider key, and
 * {@code p:<provider>:<keyId>:m:<model>} for a model with limits of its own.
 */
public final class Routes {

    /** The tenant of open mode. */
    public static final String ANONYMOUS = "anonymous";

    final GatewayConfig config;
    private final Map<String, TenantRoute> tenants = new LinkedHashMap<>();
    private final List<KeyHash> keyHashes = new ArrayList<>();
    private final Map<String, ModelRoute> models = new LinkedHashMap<>();
    private final Map<String, Policy> policies = new HashMap<>();
    /** Each provider's pass-through route, by provider name. */
    private final Map<String, ModelRoute> passthroughs = new LinkedHashMap<>();
    private final ModelRoute passthrough;

    /** A tenant and the limiter key and policy of its share, if it has one. */
    public record TenantRoute(String name, @Nullable String limiterKey, @Nullable Policy policy) {
    }

    /**
     * One provider key of a pool: its limiter key under one model's limits, and {@code cooldownKey}, where its
     * cooldown is shared: {@code cooldown:<provider>:<key id>}, no secret (built once: it is read on every call).
     */
    public record PoolKey(String provider, String id, String secret, String limiterKey, Policy policy,
            String cooldownKey, boolean chargesMaxTokens) {
        PoolKey(String provider, String id, String secret, String limiterKey, Policy policy,
                boolean chargesMaxTokens) {
            this(provider, id, secret, limiterKey, policy, "cooldown:" + provider + ":" + id, chargesMaxTokens);
        }

        @Override
        public String toString() {
            return "PoolKey{" + provider + ":" + id + "}";
        }
    }

    /**
     * A model: where it goes and which pool keys may serve it. {@code poolId} ({@code provider/model}) names its
     * waiting room and round robin, built once here rather than on every call.
     */
    public record ModelRoute(String name, String provider, String baseUrl, String upstreamModel,
            long maxOutputTokens, long imageTokens, List<PoolKey> keys, String poolId) {
        ModelRoute(String name, String provider, String baseUrl, String upstreamModel, long maxOutputTokens,
                long imageTokens, List<PoolKey> keys) {
            this(name, provider, baseUrl, upstreamModel, maxOutputTokens, imageTokens, keys, provider + "/" + name);
        }

        /**
         * This route with only the pool key {@code keyId}, waiting in a waiting room of its own (this route itself
         * for a pool of that one key); null if the pool has no such key (a reload removed it).
         */
        public @Nullable ModelRoute pinned(String keyId) {
            for (PoolKey k : keys) {
                if (k.id().equals(keyId)) {
                    return keys.size() == 1 ? this : new ModelRoute(name, provider, baseUrl, upstreamModel,
                            maxOutputTokens, imageTokens, List.of(k), poolId + "#" + keyId);
                }
            }
            return null;
        }
    }

    private record KeyHash(byte[] hash, TenantRoute tenant) {
    }

    /** Resolves {@code config}. */
    public Routes(GatewayConfig config) {
        this.config = config;
        if (config.openMode()) {
            tenants.put(ANONYMOUS, new TenantRoute(ANONYMOUS, null, null));
        }
        for (GatewayConfig.Tenant t : config.tenants().values()) {
            Policy p = t.limits() == null ? null : t.limits().policy();
            String key = p == null ? null : "t:" + t.name();
            TenantRoute tr = new TenantRoute(t.name(), key, p);
            if (key != null) {
                policies.put(key, p);
            }
            tenants.put(t.name(), tr);
            for (byte[] h : t.keyHashes()) {
                keyHashes.add(new KeyHash(h, tr));
            }
        }
        for (GatewayConfig.Model m : config.models().values()) {
            models.put(m.name(), modelRoute(m.name(), m.provider(), m.upstreamModel(), m.maxOutputTokens(),
                    m.imageTokens(), m.limits()));
        }
        for (GatewayConfig.Provider p : config.providers().values()) {
            passthroughs.put(p.name(),
                    modelRoute("*", p.name(), "*", 0, GatewayConfig.Model.DEFAULT_IMAGE_TOKENS, null));
        }
        passthrough = passthroughs.get(config.passthroughProvider());
    }

    private ModelRoute modelRoute(String name, String providerName, String upstreamModel, long maxOut,
            long imageTokens, GatewayConfig.@Nullable LimitSpec own) {
        GatewayConfig.Provider provider = config.providers().get(providerName);
        Policy policy = (own != null ? own : provider.limits()).policy();
        List<PoolKey> keys = new ArrayList<>();
        for (GatewayConfig.ProviderKey k : provider.keys()) {
            String lk = "p:" + provider.name() + ":" + k.id() + (own != null ? ":m:" + name : "");
            policies.put(lk, policy);
            keys.add(new PoolKey(provider.name(), k.id(), k.secret(), lk, policy, provider.chargesMaxTokens()));
        }
        return new ModelRoute(name, provider.name(), provider.baseUrl(), upstreamModel, maxOut, imageTokens,
                List.copyOf(keys));
    }

    /** The configuration. */
    public GatewayConfig config() {
        return config;
    }

    /**
     * The tenant a bearer token authenticates, or null. Compares SHA-256 hashes in constant time against every
     * configured key, without stopping at a match, so timing tells nothing about which keys exist.
     */
    public @Nullable TenantRoute authenticate(@Nullable String token) {
        if (config.openMode()) {
            return tenants.get(ANONYMOUS);
        }
        if (token == null || token.isEmpty()) {
            return null;
        }
        byte[] h = sha256(token);
        TenantRoute found = null;
        for (KeyHash k : keyHashes) {
            if (MessageDigest.isEqual(k.hash, h) && found == null) {
                found = k.tenant;
            }
        }
        return found;
    }

    /** The model a client names, or null. */
    public @Nullable ModelRoute model(String name) {
        return models.get(name);
    }

    /** Every model, in file order. */
    public Iterable<ModelRoute> models() {
        return models.values();
    }

    /**
     * The route of other {@code /v1/*} calls that name neither a configured model nor a provider: the pool of
     * {@link GatewayConfig#passthroughProvider()} under the provider's own limits.
     */
    public ModelRoute passthrough() {
        return passthrough;
    }

    /** The pass-through route of the provider named {@code provider} (its pool, its own limits), or null. */
    public @Nullable ModelRoute passthrough(String provider) {
        return passthroughs.get(provider);
    }

    /** Provider names, in file order. */
    public Iterable<String> providerNames() {
        return passthroughs.keySet();
    }

    /** The policy of a limiter key, or null if this configuration has none for it. */
    public @Nullable Policy policy(String limiterKey) {
        return policies.get(limiterKey);
    }

    /** Tenant names, for metrics. */
    public Iterable<String> tenantNames() {
        return tenants.keySet();
    }

    static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}

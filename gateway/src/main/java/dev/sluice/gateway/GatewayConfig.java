package dev.sluice.gateway;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Everything the gateway runs on, as read from one YAML file by {@link GatewayConfigParser} (every field and its
 * default is listed in {@code docs/gateway.md}). Immutable. Secrets (provider API keys, gateway keys) are held only
 * as resolved values or hashes and never appear in {@link #toString()}.
 *
 * @param server the HTTP server
 * @param backend where limiter state lives, shared by every gateway instance on the same backend
 * @param queue how long a call may wait for quota
 * @param upstream timeouts and retries towards providers
 * @param cache response caching
 * @param passthrough where other {@code /v1/*} calls go when nothing in the call names a provider
 * @param providers upstream providers by name, in file order
 * @param models served models by the name clients use, in file order
 * @param tenants tenants by name; none means open mode (no gateway key asked, one tenant {@code anonymous})
 */
public record GatewayConfig(Server server, Backend backend, Queue queue, Upstream upstream, Cache cache,
        Passthrough passthrough, Map<String, Provider> providers, Map<String, Model> models,
        Map<String, Tenant> tenants) {

    /**
     * Copies the maps, keeping their order.
     *
     * @throws IllegalArgumentException if {@code passthrough} names no provider of {@code providers}
     */
    public GatewayConfig {
        providers = ordered(providers);
        models = ordered(models);
        tenants = ordered(tenants);
        String p = passthrough.provider();
        if (p != null && !providers.containsKey(p)) {
            throw new IllegalArgumentException("passthrough.provider: no provider named '" + p + "'");
        }
    }

    private static <V> Map<String, V> ordered(Map<String, V> m) {
        return java.util.Collections.unmodifiableMap(new LinkedHashMap<>(m));
    }

    /** Whether clients need no gateway key (no tenant configured). */
    public boolean openMode() {
        return tenants.isEmpty();
    }

    /** The provider that pass-through calls go to when nothing in the call names one. */
    public String passthroughProvider() {
        String p = passthrough.provider();
        return p != null ? p : providers.keySet().iterator().next();
    }

    /** This configuration listening on another port (0: any free port). */
    public GatewayConfig withPort(int port) {
        return new GatewayConfig(server.withPort(port), backend, queue, upstream, cache, passthrough, providers, models,
                tenants);
    }

    /**
     * The embedded default: memory backend, open mode, one provider {@code simulator} at {@code baseUrl} with 60
     * requests and 100,000 tokens per minute, and the models {@code gpt-4o-mini} and {@code gpt-4.1-nano}.
     */
    public static GatewayConfig embeddedDefault(String baseUrl, int port) {
        LimitSpec limits = new LimitSpec(List.of(
                new LimitSpec.Entry("requests", 60, Duration.ofMinutes(1), Algorithm.SLIDING_LOG),
                new LimitSpec.Entry("tokens", 100_000, Duration.ofMinutes(1), Algorithm.SLIDING_WINDOW_COUNTER)));
        Provider sim = new Provider("simulator", baseUrl, List.of(new ProviderKey("default", "sk-simulator")), limits);
        Map<String, Model> models = new LinkedHashMap<>();
        for (String m : List.of("gpt-4o-mini", "gpt-4.1-nano")) {
            models.put(m, new Model(m, "simulator", m, 1024, null));
        }
        return new GatewayConfig(Server.defaults().withPort(port), Backend.memory(), Queue.defaults(),
                Upstream.defaults(), Cache.defaults(), Passthrough.defaults(), Map.of("simulator", sim), models,
                Map.of());
    }

    /**
     * The HTTP server.
     *
     * @param host the address to bind (default {@code 127.0.0.1})
     * @param port the port (default 8080; 0 picks a free one)
     * @param maxBodyBytes the largest request body accepted; larger ones get 413 (default 1 MiB)
     * @param drainTimeout how long shutdown waits for calls in flight (default 30 s)
     * @param reloadInterval how often the file is checked for changes; zero disables reloads (default 2 s)
     * @param eventLoops the event loops serving calls, each with its own server and upstream connections; 0 (the
     *     default) for one per available processor
     * @param transport how the event loops do their I/O (default {@link IoTransport#AUTO})
     * @param bodyTimeout the longest a request body may stall, no byte arriving; then 408 and the connection closed
     *     (default 30 s)
     * @param idleTimeout the longest a client connection may stay with no call in progress, whether it has not
     *     finished sending a request's headers or idles between calls; then it is closed (default 75 s, above the 60 s
     *     idle timeout of common load balancers, which should close first); zero never closes an idle connection
     */
    public record Server(String host, int port, long maxBodyBytes, Duration drainTimeout, Duration reloadInterval,
            int eventLoops, IoTransport transport, Duration bodyTimeout, Duration idleTimeout) {
        /** The defaults. */
        public static Server defaults() {
            return new Server("127.0.0.1", 8080, 1 << 20, Duration.ofSeconds(30), Duration.ofSeconds(2), 0,
                    IoTransport.AUTO, Duration.ofSeconds(30), Duration.ofSeconds(75));
        }

        Server withPort(int p) {
            return new Server(host, p, maxBodyBytes, drainTimeout, reloadInterval, eventLoops, transport, bodyTimeout,
                    idleTimeout);
        }

        /** The number of event loops to run: {@link #eventLoops}, or the available processors if that is 0. */
        public int loops() {
            return eventLoops > 0 ? eventLoops : Math.max(1, Runtime.getRuntime().availableProcessors());
        }
    }

    /**
     * The event loops' I/O: Linux io_uring, Linux epoll, or the JDK's NIO selector. {@link #AUTO} takes the first of
     * those three that this machine offers (io_uring needs a recent Linux kernel and is often blocked in containers by
     * their seccomp profile); naming one that is not available stops the start with the reason.
     */
    public enum IoTransport {
        /** io_uring if available, else epoll, else NIO (the default). */
        AUTO,
        /** Linux io_uring (Netty's native transport). */
        IO_URING,
        /** Linux epoll (Netty's native transport). */
        EPOLL,
        /** The JDK's NIO selector: available everywhere. */
        NIO
    }

    /** Where limiter state lives. */
    public enum BackendType {
        /** In this JVM only: one gateway instance. */
        MEMORY,
        /** A Redis server (or Sentinel/Cluster through Redisson's address), shared by every instance. */
        REDIS,
        /** A Hazelcast cluster joined as a client, shared by every instance. */
        HAZELCAST
    }

    /**
     * The shared backend.
     *
     * @param type memory (default), redis or hazelcast
     * @param namespace prefix of every stored key (default {@code sluice-gw})
     * @param redisAddress for redis: {@code redis://host:port} (default {@code redis://127.0.0.1:6379})
     * @param redisPassword for redis: the password, resolved from an env var or file, or null
     * @param hazelcastCluster for hazelcast: the cluster name (default {@code dev})
     * @param hazelcastAddresses for hazelcast: member addresses (default {@code 127.0.0.1:5701})
     * @param timeout how long a limiter call may wait for the backend before the failure policy decides (500 ms)
     * @param failurePolicy what to decide while the backend is down: FAIL_CLOSED (default), FAIL_OPEN
     */
    public record Backend(BackendType type, String namespace, String redisAddress, @Nullable String redisPassword,
            String hazelcastCluster, List<String> hazelcastAddresses, Duration timeout, String failurePolicy) {
        /** The memory backend. */
        public static Backend memory() {
            return new Backend(BackendType.MEMORY, "sluice-gw", "redis://127.0.0.1:6379", null, "dev",
                    List.of("127.0.0.1:5701"), Duration.ofMillis(500), "FAIL_CLOSED");
        }

        /** The Redis backend at {@code address}. */
        public static Backend redis(String address, String namespace) {
            return new Backend(BackendType.REDIS, namespace, address, null, "dev", List.of("127.0.0.1:5701"),
                    Duration.ofMillis(500), "FAIL_CLOSED");
        }

        @Override
        public String toString() {
            return "Backend{" + type + ", namespace=" + namespace + "}";
        }
    }

    /**
     * Waiting for quota.
     *
     * @param maxWait the longest a call waits for quota before a 429 (default 30 s)
     * @param maxWaitingPerTenant the most calls of one tenant waiting at once; more get a 429 at once (default 256)
     */
    public record Queue(Duration maxWait, int maxWaitingPerTenant) {
        /** The defaults. */
        public static Queue defaults() {
            return new Queue(Duration.ofSeconds(30), 256);
        }
    }

    /**
     * Calls to providers.
     *
     * @param connectTimeout the longest a connection may take; then 502 (default 5 s)
     * @param timeout the longest the upstream may stay silent (no header or body byte); then 504 (default 120 s)
     * @param maxRetries how many times a call the upstream answered 429 is retried, within the caller's wait
     *     (default 2)
     * @param defaultCooldown the cooldown after an upstream 429 that names no wait (default 1 s)
     * @param backoffBase a retry after an upstream 429 waits, beyond the cooldown, a random time (full jitter) up to
     *     {@code min(backoffCap, backoffBase × 2^(retry-1))}, so that instances and calls that saw the same 429 do not
     *     retry together; zero for none (default 250 ms)
     * @param backoffCap the most that random wait can be (default 5 s)
     * @param responseAffinity how long the gateway remembers which pool key made a stored response (the Responses
     *     API), so that calls chaining to it ({@code previous_response_id}) and reads of it
     *     ({@code /v1/responses/{id}}) go out with that key, whose project holds it; zero forgets at once (default
     *     1 day; OpenAI keeps a stored response 30 days)
     * @param responseIsolation whether a tenant reaches only the stored responses made for it through the gateway
     *     (remembered for {@code responseAffinity}): a call about any other is answered 404 by the gateway, without
     *     going upstream (default false: any tenant that knows a response's id reaches it, as any user of the
     *     provider project can)
     */
    public record Upstream(Duration connectTimeout, Duration timeout, int maxRetries, Duration defaultCooldown,
            Duration backoffBase, Duration backoffCap, Duration responseAffinity, boolean responseIsolation) {
        /**
         * Checks the backoff and the isolation.
         *
         * @throws IllegalArgumentException unless {@code 0 <= backoffBase <= backoffCap}, and unless
         *     {@code responseAffinity} is above zero when {@code responseIsolation} is on
         */
        public Upstream {
            if (backoffBase.isNegative() || backoffCap.compareTo(backoffBase) < 0) {
                throw new IllegalArgumentException("need 0 <= backoffBase <= backoffCap");
            }
            if (responseIsolation && responseAffinity.isZero()) {
                throw new IllegalArgumentException("responseIsolation needs responseAffinity above zero");
            }
        }

        /** Without response isolation, as before {@code responseIsolation} was a setting. */
        public Upstream(Duration connectTimeout, Duration timeout, int maxRetries, Duration defaultCooldown,
                Duration backoffBase, Duration backoffCap, Duration responseAffinity) {
            this(connectTimeout, timeout, maxRetries, defaultCooldown, backoffBase, backoffCap, responseAffinity,
                    false);
        }

        /** The defaults. */
        public static Upstream defaults() {
            return new Upstream(Duration.ofSeconds(5), Duration.ofSeconds(120), 2, Duration.ofSeconds(1),
                    Duration.ofMillis(250), Duration.ofSeconds(5), Duration.ofDays(1), false);
        }
    }

    /**
     * Response caching.
     *
     * @param enabled whether answers are cached (default true)
     * @param ttl how long an answer is reused (default 10 min)
     * @param maxEntries the most entries the in-memory store holds (default 10,000)
     * @param deterministicOnly cache only requests with {@code temperature: 0} (or {@code seed} set); default true
     */
    public record Cache(boolean enabled, Duration ttl, long maxEntries, boolean deterministicOnly) {
        /** The defaults. */
        public static Cache defaults() {
            return new Cache(true, Duration.ofMinutes(10), 10_000, true);
        }
    }

    /**
     * Pass-through calls: {@code /v1/*} other than {@code POST} chat completions, completions, embeddings and
     * responses (and the models list the gateway answers itself). Such a call goes to the key that made the stored
     * response it names, if remembered; else to the provider of the model its JSON body names, if that model is
     * configured; else to the provider its {@code x-sluice-provider} header names; else to {@link #provider}.
     *
     * @param provider the provider of calls that name none; null for the first provider in the file (the default)
     */
    public record Passthrough(@Nullable String provider) {
        /** The default: the first provider. */
        public static Passthrough defaults() {
            return new Passthrough(null);
        }
    }

    /**
     * An upstream provider.
     *
     * @param name its name in the file
     * @param baseUrl for example {@code https://api.openai.com/v1}; a request to {@code /v1/x} goes to
     *     {@code baseUrl + /x}
     * @param keys the key pool; each key has its own quota at the provider
     * @param limits the provider's limits for each key
     * @param chargesMaxTokens whether the provider counts a call's {@code max_tokens} in full against its token
     *     limits, however few it generated, as OpenAI documents: then a key is not given back the output an answered
     *     call left unused (its tenant still is)
     */
    public record Provider(String name, String baseUrl, List<ProviderKey> keys, LimitSpec limits,
            boolean chargesMaxTokens) {
        /** Copies the keys. */
        public Provider {
            keys = List.copyOf(keys);
        }

        /** A provider that counts what a call used. */
        public Provider(String name, String baseUrl, List<ProviderKey> keys, LimitSpec limits) {
            this(name, baseUrl, keys, limits, false);
        }
    }

    /**
     * One provider API key.
     *
     * @param id a name for it that may appear in logs and metrics (the secret never does)
     * @param secret the key itself, resolved from an env var or file
     */
    public record ProviderKey(String id, String secret) {
        @Override
        public String toString() {
            return "ProviderKey{" + id + "}";
        }
    }

    /**
     * A served model.
     *
     * @param name what clients ask for
     * @param provider the provider that serves it
     * @param upstreamModel the name sent to the provider (default: {@code name})
     * @param maxOutputTokens reserved for the answer when a request names no {@code max_tokens} (default 1024)
     * @param limits limits of this model on each key, replacing the provider's; null to share the provider's
     * @param imageTokens prompt tokens reserved for each image part of a chat message (default
     *     {@link #DEFAULT_IMAGE_TOKENS}); the settlement corrects it to what the provider reports
     */
    public record Model(String name, String provider, String upstreamModel, long maxOutputTokens,
            @Nullable LimitSpec limits, long imageTokens) {

        /**
         * The most one image costs under OpenAI's tile formula for the gpt-4o class at {@code detail: high} (a
         * 2048x768 image: 8 tiles of 170 tokens plus 85): an upper bound there whatever the image's size.
         */
        public static final long DEFAULT_IMAGE_TOKENS = 1445;

        /** Validates. */
        public Model {
            if (imageTokens < 0) {
                throw new IllegalArgumentException("imageTokens must be 0 or positive, was " + imageTokens);
            }
        }

        /** A model whose image parts reserve {@link #DEFAULT_IMAGE_TOKENS} each. */
        public Model(String name, String provider, String upstreamModel, long maxOutputTokens,
                @Nullable LimitSpec limits) {
            this(name, provider, upstreamModel, maxOutputTokens, limits, DEFAULT_IMAGE_TOKENS);
        }
    }

    /**
     * A tenant.
     *
     * @param name its name (a metric tag)
     * @param keyHashes SHA-256 of each gateway key that authenticates as this tenant
     * @param limits this tenant's share, nested under the providers' limits; null for none
     */
    public record Tenant(String name, List<byte[]> keyHashes, @Nullable LimitSpec limits) {
        /** Copies the hashes. */
        public Tenant {
            keyHashes = List.copyOf(keyHashes);
        }

        @Override
        public String toString() {
            return "Tenant{" + name + ", keys=" + keyHashes.size() + ", limits=" + limits + "}";
        }
    }

    /**
     * A set of limits.
     *
     * @param entries each limit: dimension ({@code requests} or {@code tokens}), capacity, period, algorithm
     */
    public record LimitSpec(List<Entry> entries) {
        /** Copies. */
        public LimitSpec {
            entries = List.copyOf(entries);
        }

        /** One limit. */
        public record Entry(String dimension, long capacity, Duration period, Algorithm algorithm) {
            /** Validates through {@link Limit#of}. */
            public Entry {
                Objects.requireNonNull(algorithm, "algorithm");
                Limit.of(dimension, capacity, period, algorithm);
            }

            Limit limit() {
                return Limit.of(dimension, capacity, period, algorithm);
            }
        }

        /** The policy, or null if there is no limit. */
        public @Nullable Policy policy() {
            if (entries.isEmpty()) {
                return null;
            }
            List<Limit> limits = new ArrayList<>();
            for (Entry e : entries) {
                limits.add(e.limit());
            }
            return Policy.of(limits);
        }
    }
}

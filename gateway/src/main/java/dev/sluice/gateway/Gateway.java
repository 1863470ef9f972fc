package dev.sluice.gateway;

import com.fasterxml.jackson.databind.node.TextNode;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.gateway.GatewayConfig.IoTransport;
import dev.sluice.gateway.internal.Admission;
import dev.sluice.gateway.internal.Backends;
import dev.sluice.gateway.internal.ProxyHandler;
import dev.sluice.gateway.internal.ResponseAffinity;
import dev.sluice.gateway.internal.ResponseCache;
import dev.sluice.gateway.internal.Routes;
import dev.sluice.governor.SharedCooldowns;
import dev.sluice.governor.TokenEstimator;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VerticleBase;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.transport.Transport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One running gateway instance: an HTTP server on Vert.x serving the OpenAI API in front of the configured providers,
 * with every call admitted by Sluice's limiter on the configured backend. Start one with {@link #start}; instances
 * on the same Redis or Hazelcast backend (and namespace) share every tenant and provider quota.
 *
 * <p>A configuration file given to {@link #start} is watched: a valid change is applied without a restart and without
 * losing limiter state (state lives in the backend under keys that do not change); an invalid one is logged and
 * ignored. Changes to {@code server} and {@code backend} need a restart. {@link #close()} drains calls in flight, up to
 * {@code server.drainTimeout}, then stops.
 */
public final class Gateway implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Gateway.class);
    /** For limiter keys a reload has just removed while a call still holds them: never denies. */
    private static final Policy UNBOUNDED = Policy.of(Limit.perSecond("requests", 1L << 20),
            Limit.perSecond("tokens", 1L << 30));
    /** The context data key under which a loop's verticle keeps its upstream client. */
    private static final String CLIENT = "sluice.gateway.upstream-client";

    private final Vertx vertx;
    private final Backends backends;
    private final @Nullable ExecutorService limiterPool;
    private final AtomicReference<Routes> routes;
    private final ProxyHandler handler;
    private final List<HttpServer> servers;
    private final List<HttpClient> clients;
    private final PrometheusMeterRegistry registry;
    private final ResponseCache cache;
    private final Duration drainTimeout;
    private final int port;
    private final String transport;
    private volatile boolean closed;

    private Gateway(Vertx vertx, Backends backends, @Nullable ExecutorService limiterPool,
            AtomicReference<Routes> routes, ProxyHandler handler, List<HttpServer> servers, List<HttpClient> clients,
            PrometheusMeterRegistry registry, ResponseCache cache, Duration drainTimeout, String transport) {
        this.vertx = vertx;
        this.backends = backends;
        this.limiterPool = limiterPool;
        this.routes = routes;
        this.handler = handler;
        this.servers = servers;
        this.clients = clients;
        this.registry = registry;
        this.cache = cache;
        this.drainTimeout = drainTimeout;
        this.port = servers.get(0).actualPort();
        this.transport = transport;
    }

    /** Starts a gateway on {@code config} without watching a file; see {@link #start(GatewayConfig, Path)}. */
    public static Gateway start(GatewayConfig config) {
        return start(config, null);
    }

    /**
     * Connects the backend, binds the server and returns once it listens.
     *
     * @param file the file {@code config} came from, watched for changes; null for none
     * @throws IllegalStateException if the server cannot bind or the backend cannot be reached
     */
    public static Gateway start(GatewayConfig config, @Nullable Path file) {
        int loops = config.server().loops();
        // Load the token encodings now (a second or two), so that the first call does not pay for it on an event loop.
        TokenEstimator.textTokens("o200k_base", TextNode.valueOf("warm up"));
        TokenEstimator.textTokens("cl100k_base", TextNode.valueOf("warm up"));
        Transport transport = transport(config.server().transport());
        Vertx vertx = Vertx.builder().with(new VertxOptions().setEventLoopPoolSize(loops)).withTransport(transport)
                .build();
        Backends backends;
        try {
            backends = Backends.of(config);
        } catch (RuntimeException e) {
            vertx.close();
            throw new IllegalStateException("cannot connect the " + config.backend().type() + " backend: "
                    + e.getMessage(), e);
        }
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        AtomicReference<Routes> routes = new AtomicReference<>(new Routes(config));
        SluiceLimiter limiter = SluiceLimiter.builder(backends.limiter()).name("gateway")
                .policies(key -> {
                    Policy p = routes.get().policy(key);
                    return p != null ? p : UNBOUNDED;
                })
                .meterRegistry(registry).build();
        ExecutorService pool = null;
        if (backends.blocking()) {
            AtomicInteger n = new AtomicInteger();
            pool = Executors.newFixedThreadPool(32, r -> {
                Thread t = new Thread(r, "sluice-limiter-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }
        ExecutorService limiterPool = pool;
        SharedCooldowns cooldowns = new SharedCooldowns(backends.cache());
        Admission admission = new Admission(limiter, limiterPool != null ? limiterPool : Runnable::run, cooldowns,
                key -> routes.get().policy(key));
        ResponseCache cache = new ResponseCache(backends.cache(), backends.blocking(), config.cache());
        HttpClientOptions clientOptions = new HttpClientOptions().setKeepAlive(true)
                .setConnectTimeout((int) config.upstream().connectTimeout().toMillis()).setTcpNoDelay(true);
        PoolOptions poolOptions = new PoolOptions().setHttp1MaxSize(512).setMaxWaitQueueSize(-1);
        List<HttpServer> servers = Collections.synchronizedList(new ArrayList<>());
        // filled below before any call can arrive, and read only after
        List<HttpClient> clients = new ArrayList<>();
        ProxyHandler handler = new ProxyHandler(vertx, () -> loopClient(clients), routes::get, admission, cooldowns,
                cache, new ResponseAffinity(backends.cache()), registry, registry::scrape,
                () -> Future.fromCompletionStage(backends.probe().get()),
                config.backend().type().name().toLowerCase(java.util.Locale.ROOT));
        GatewayConfig.Server s = config.server();
        try {
            // HTTP/1.1 only: with HTTP/2 cleartext on, Vert.x makes a connection (and calls the connection handler)
            // only once its first request's headers are in, so nothing could close one that never sends them
            HttpServerOptions options = new HttpServerOptions().setTcpNoDelay(true)
                    .setMaxInitialLineLength(8192).setCompressionSupported(false).setHttp2ClearTextEnabled(false);
            int port = s.port();
            if (port == 0) {
                // several servers share one port only if they name it: pick a free one first
                try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1,
                        java.net.InetAddress.getByName(s.host()))) {
                    port = probe.getLocalPort();
                }
            }
            int listenPort = port;
            // One server and one upstream client per event loop, each in a verticle of its own: Vert.x spreads the
            // verticles over the loops and the accepted connections over the servers, and a call's upstream
            // connection lives on the loop of its client connection (no hop between threads). Servers created from
            // one plain thread would all share that thread's single context, and so one loop.
            // The clients are made here, one after the other, not in the verticles' start(): making one takes an
            // event loop for its pool timer, and doing that while the deployment hands out loops to the verticles
            // would race with it and could put two verticles on one loop.
            for (int i = 0; i < loops; i++) {
                clients.add(vertx.createHttpClient(clientOptions, poolOptions));
            }
            AtomicInteger next = new AtomicInteger();
            vertx.deployVerticle(() -> new Loop(handler, options, clients.get(next.getAndIncrement()), listenPort,
                            s.host(), servers, registry),
                    new DeploymentOptions().setInstances(loops))
                    .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            vertx.close();
            backends.closer().run();
            Throwable cause = e instanceof java.util.concurrent.ExecutionException && e.getCause() != null
                    ? e.getCause() : e;
            throw new IllegalStateException("cannot listen on " + s.host() + ":" + s.port() + ": "
                    + cause.getMessage(), cause);
        }
        Gateway g = new Gateway(vertx, backends, limiterPool, routes, handler, List.copyOf(servers),
                List.copyOf(clients), registry, cache, s.drainTimeout(), transport.name());
        if (backends.blocking()) {
            vertx.setPeriodic(1000, id -> g.refreshCooldowns(cooldowns));
        }
        if (file != null && !s.reloadInterval().isZero()) {
            g.watch(file, s.reloadInterval());
        }
        LOG.info("Sluice gateway listening on http://{}:{} ({} backend, {} provider(s), {} model(s), {}; {} I/O)",
                s.host(), g.port, config.backend().type().name().toLowerCase(java.util.Locale.ROOT),
                config.providers().size(), config.models().size(),
                config.openMode() ? "open mode: no gateway key needed" : config.tenants().size() + " tenant(s)",
                transport.name());
        return g;
    }

    /**
     * The transport that {@code server.transport} names, or for {@code auto} the first available of io_uring, epoll
     * and NIO.
     *
     * @throws IllegalStateException if a transport named explicitly is not available on this machine
     */
    static Transport transport(IoTransport wanted) {
        return available(wanted, switch (wanted) {
            case AUTO -> Transport.IO_URING.available() ? Transport.IO_URING
                    : Transport.EPOLL.available() ? Transport.EPOLL : Transport.NIO;
            case IO_URING -> Transport.IO_URING;
            case EPOLL -> Transport.EPOLL;
            case NIO -> Transport.NIO;
        });
    }

    /** {@code t}, the transport chosen for {@code wanted}, if it is available. */
    static Transport available(IoTransport wanted, Transport t) {
        if (!t.available()) {
            Throwable cause = t.unavailabilityCause();
            throw new IllegalStateException("server.transport: " + wanted.name().toLowerCase(java.util.Locale.ROOT)
                    + " is not available here" + (cause == null ? "" : " (" + cause + ")")
                    + "; use auto to fall back to one that is");
        }
        return t;
    }

    /**
     * The upstream client of the calling event loop's verticle, so that upstream connections stay on the loop of the
     * call; the first loop's client from anywhere else (there is no such caller today).
     */
    private static HttpClient loopClient(List<HttpClient> clients) {
        Context c = Vertx.currentContext();
        HttpClient own = c == null ? null : c.<HttpClient>get(CLIENT);
        return own != null ? own : clients.get(0);
    }

    /**
     * One event loop's share of the gateway: a server on the shared port, an upstream client of its own, and a gauge
     * of the client connections it serves.
     */
    private static final class Loop extends VerticleBase {
        private final ProxyHandler handler;
        private final HttpServerOptions options;
        private final HttpClient client;
        private final int port;
        private final String host;
        private final List<HttpServer> servers;
        private final MeterRegistry registry;
        private final AtomicInteger open = new AtomicInteger();

        Loop(ProxyHandler handler, HttpServerOptions options, HttpClient client, int port, String host,
                List<HttpServer> servers, MeterRegistry registry) {
            this.handler = handler;
            this.options = options;
            this.client = client;
            this.port = port;
            this.host = host;
            this.servers = servers;
            this.registry = registry;
        }

        @Override
        public Future<?> start() {
            // used only from this loop, the client opens its connections on this loop
            context.put(CLIENT, client);
            // start() runs on the verticle's event loop: the tag names that thread, as jstack and top -H do
            Gauge.builder(GatewayMetricNames.CONNECTIONS, open, AtomicInteger::get).strongReference(true)
                    .description("Open client connections served by this event loop")
                    .tag("loop", Thread.currentThread().getName()).register(registry);
            HttpServer server = vertx.createHttpServer(options).requestHandler(handler).connectionHandler(c -> {
                open.incrementAndGet();
                Runnable unwatch = handler.connected(c);
                c.closeHandler(v -> {
                    open.decrementAndGet();
                    unwatch.run();
                });
            });
            return server.listen(port, host).onSuccess(servers::add);
        }
    }

    private void refreshCooldowns(SharedCooldowns cooldowns) {
        vertx.executeBlocking(() -> {
            // every key of every provider, once: a provider's pass-through route holds its whole pool
            Routes r = routes.get();
            List<String> keys = new ArrayList<>();
            for (String provider : r.providerNames()) {
                Routes.ModelRoute all = java.util.Objects.requireNonNull(r.passthrough(provider));
                all.keys().forEach(k -> keys.add(k.cooldownKey()));
            }
            cooldowns.refresh(keys);
            return null;
        }, false);
    }

    private void watch(Path file, Duration every) {
        AtomicReference<FileTime> seen = new AtomicReference<>(modified(file));
        vertx.setPeriodic(Math.max(100, every.toMillis()), id -> vertx.executeBlocking(() -> {
            FileTime now = modified(file);
            if (now == null || now.equals(seen.get())) {
                return null;
            }
            seen.set(now);
            reload(GatewayConfigParser.create(), file);
            return null;
        }, false));
    }

    /**
     * Reads {@code file} again and applies it: tenants, models, providers, limits, pass-through, cache, queue and
     * upstream settings. Limiter state carries over. Returns whether it was applied (an invalid file is logged and
     * ignored).
     */
    public boolean reload(GatewayConfigParser parser, Path file) {
        try {
            return apply(parser.load(file));
        } catch (GatewayConfigException e) {
            LOG.error("configuration change in {} ignored: {}", file, e.getMessage());
            return false;
        }
    }

    /** Applies a new configuration, as {@link #reload}. */
    public boolean apply(GatewayConfig next) {
        GatewayConfig current = routes.get().config();
        if (!next.backend().equals(current.backend()) || !next.server().equals(current.server())) {
            LOG.warn("changes to 'server' or 'backend' need a restart; applying the rest");
        }
        GatewayConfig merged = new GatewayConfig(current.server(), current.backend(), next.queue(), next.upstream(),
                next.cache(), next.passthrough(), next.providers(), next.models(), next.tenants());
        routes.set(new Routes(merged));
        cache.settings(merged.cache());
        LOG.info("configuration reloaded: {} provider(s), {} model(s), {} tenant(s)", merged.providers().size(),
                merged.models().size(), merged.tenants().size());
        return true;
    }

    private static @Nullable FileTime modified(Path file) {
        try {
            return Files.getLastModifiedTime(file);
        } catch (Exception e) {
            return null;
        }
    }

    /** The port it listens on. */
    public int port() {
        return port;
    }

    /** The event loops' I/O transport in use: {@code io_uring}, {@code epoll} or {@code nio}. */
    public String transport() {
        return transport;
    }

    /** {@code http://host:port/v1}. */
    public String baseUrl() {
        String host = routes.get().config().server().host();
        return "http://" + (host.equals("0.0.0.0") ? "127.0.0.1" : host) + ":" + port + "/v1";
    }

    /** The configuration in force. */
    public GatewayConfig config() {
        return routes.get().config();
    }

    /** Calls in progress. */
    public int inFlight() {
        return handler.inFlight();
    }

    /** Calls waiting for quota (their tenant's share or a provider key), a part of {@link #inFlight()}. */
    public int waiting() {
        return handler.waiting();
    }

    /** The meter registry behind {@code /metrics}. */
    public PrometheusMeterRegistry registry() {
        return registry;
    }

    /**
     * Stops gracefully: new calls get 503, calls in flight (streams included) run to their end for up to
     * {@code server.drainTimeout}, then servers, client, backend and event loops close. Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        CompletableFuture<Void> idle = new CompletableFuture<>();
        handler.drain(() -> idle.complete(null));
        try {
            idle.get(drainTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            LOG.warn("{} call(s) still in flight after {}; closing them", handler.inFlight(), drainTimeout);
        }
        try {
            for (HttpServer s : servers) {
                s.close().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
            }
            for (HttpClient c : clients) {
                c.close().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
            }
        } catch (Exception e) {
            LOG.debug("while closing: {}", e.toString());
        }
        try {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.debug("while closing Vert.x: {}", e.toString());
        }
        if (limiterPool != null) {
            limiterPool.shutdown();
        }
        backends.closer().run();
        registry.close();
    }
}

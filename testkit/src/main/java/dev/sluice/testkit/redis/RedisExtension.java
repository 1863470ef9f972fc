package dev.sluice.testkit.redis;

import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.util.Locale;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.opentest4j.TestAbortedException;

/**
 * Gives a test class a real Redis, as a {@link RedisEndpoint} parameter or through {@link #endpoint()}:
 *
 * <pre>{@code
 * @RegisterExtension static final RedisExtension REDIS = new RedisExtension();
 * }</pre>
 *
 * <p>Before all tests it picks, in this order: the Redis named by the environment variable {@code SLUICE_REDIS_URL}
 * (refused if it is port 6379 on this machine: the machine's own Redis is not for tests); a private
 * {@link RedisServer} if {@code redis-server} is on the PATH; a {@code redis:7} container if Docker is available;
 * otherwise it aborts the class, saying how to install {@code redis-server}. After all tests it stops what it started.
 * It never flushes anything: tests delete the keys they create. Nested test classes share the outer class's Redis.
 */
public final class RedisExtension implements BeforeAllCallback, AfterAllCallback, ParameterResolver {

    /** The environment variable naming an external Redis, as a {@code redis://} or {@code rediss://} URI. */
    public static final String URL_VARIABLE = "SLUICE_REDIS_URL";

    private final Function<String, @Nullable String> environment;
    private final BooleanSupplier redisServerAvailable;
    private final BooleanSupplier dockerAvailable;

    private int depth;
    private @Nullable RedisEndpoint endpoint;
    private @Nullable AutoCloseable started;

    /** An extension that reads the real environment, PATH and Docker. */
    public RedisExtension() {
        this(System::getenv, RedisServer::available, RedisContainers::dockerAvailable);
    }

    RedisExtension(Function<String, @Nullable String> environment, BooleanSupplier redisServerAvailable,
            BooleanSupplier dockerAvailable) {
        this.environment = environment;
        this.redisServerAvailable = redisServerAvailable;
        this.dockerAvailable = dockerAvailable;
    }

    @Override
    public synchronized void beforeAll(ExtensionContext context) {
        if (depth++ == 0) {
            open();
        }
    }

    @Override
    public synchronized void afterAll(ExtensionContext context) throws Exception {
        if (depth > 0 && --depth == 0) {
            stop();
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        return parameterContext.getParameter().getType() == RedisEndpoint.class;
    }

    @Override
    public RedisEndpoint resolveParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        try {
            return endpoint();
        } catch (IllegalStateException e) {
            throw new ParameterResolutionException(e.getMessage(), e);
        }
    }

    /**
     * The Redis of the running test class.
     *
     * @throws IllegalStateException before {@code beforeAll} or after {@code afterAll} (for example when the extension
     *     is registered on an instance field instead of a static one)
     */
    public synchronized RedisEndpoint endpoint() {
        RedisEndpoint e = endpoint;
        if (e == null) {
            throw new IllegalStateException("no Redis yet: register RedisExtension on a static field"
                    + " (@RegisterExtension static final RedisExtension REDIS = new RedisExtension()) and use it in"
                    + " or after @BeforeAll");
        }
        return e;
    }

    /** Picks and, if needed, starts the Redis; see the class comment for the order. */
    synchronized void open() {
        String url = environment.apply(URL_VARIABLE);
        if (url != null && !url.isBlank()) {
            endpoint = external(url.trim());
        } else if (redisServerAvailable.getAsBoolean()) {
            RedisServer server = RedisServer.start();
            started = server;
            endpoint = RedisEndpoint.of(server);
        } else if (dockerAvailable.getAsBoolean()) {
            RedisContainers.Started container = RedisContainers.startRedis();
            started = container.container();
            endpoint = container.endpoint();
        } else {
            throw new TestAbortedException("No Redis for these tests: redis-server and redis-cli are not on the PATH,"
                    + " Docker is not available and " + URL_VARIABLE + " is not set. Install redis-server (Debian,"
                    + " Ubuntu: apt-get install -y redis-server, which brings redis-cli), or start Docker, or set "
                    + URL_VARIABLE + " to a Redis that tests may write into (not port 6379 on this machine).");
        }
    }

    /** Stops what {@link #open} started, if anything. */
    synchronized void stop() throws Exception {
        AutoCloseable s = started;
        started = null;
        endpoint = null;
        if (s != null) {
            s.close();
        }
    }

    private static RedisEndpoint external(String url) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new ExtensionConfigurationException(URL_VARIABLE + " is not a URI: " + withoutPassword(url), e);
        }
        String scheme = uri.getScheme();
        String host = uri.getHost();
        if (scheme == null || !(scheme.equalsIgnoreCase("redis") || scheme.equalsIgnoreCase("rediss"))
                || host == null || host.isEmpty()) {
            throw new ExtensionConfigurationException(URL_VARIABLE + " must look like redis://host:port (or"
                    + " rediss://), got " + withoutPassword(url));
        }
        int port = uri.getPort() == -1 ? RedisServer.MACHINE_REDIS_PORT : uri.getPort();
        String bareHost = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        if (port == RedisServer.MACHINE_REDIS_PORT && isThisMachine(bareHost)) {
            throw new ExtensionConfigurationException(URL_VARIABLE + "=" + withoutPassword(url) + " points at port "
                    + RedisServer.MACHINE_REDIS_PORT + " on this machine, the machine's own Redis; tests write and"
                    + " delete keys, so they must not run there. Point it at a Redis kept for tests (another port or"
                    + " host), or unset it to let the testkit start a private redis-server.");
        }
        return RedisEndpoint.unkillable(RedisEndpoint.EXTERNAL, url, bareHost, port);
    }

    /** Loopback, the wildcard address, or an address of one of this machine's network interfaces. */
    private static boolean isThisMachine(String host) {
        if (host.equalsIgnoreCase("localhost") || host.toLowerCase(Locale.ROOT).endsWith(".localhost")) {
            return true;
        }
        try {
            for (InetAddress address : InetAddress.getAllByName(host)) {
                if (address.isLoopbackAddress() || address.isAnyLocalAddress()
                        || NetworkInterface.getByInetAddress(address) != null) {
                    return true;
                }
            }
            return false;
        } catch (UnknownHostException e) {
            return false;
        } catch (SocketException e) {
            return true; // cannot tell: be safe
        }
    }

    private static String withoutPassword(String url) {
        return url.replaceFirst("^([A-Za-z][A-Za-z0-9+.-]*://)[^@/]*@", "$1***@");
    }
}

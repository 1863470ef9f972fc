package dev.sluice.testkit.redis;

import org.jspecify.annotations.Nullable;

/**
 * The Redis a test class was given by {@link RedisExtension}: where it is and what kind it is. Only a private
 * {@code redis-server} can be broken on purpose ({@link #canKill}); a container or an external Redis cannot.
 *
 * <p>Tests share it for the whole class and, in an external Redis, share it with whatever else uses that server: they
 * should use keys of their own and delete only those.
 */
public final class RedisEndpoint {

    /** {@link #kind} of a private {@link RedisServer} started for the class. */
    public static final String PRIVATE_SERVER = "private redis-server";
    /** {@link #kind} of a {@code redis:7} container started through Testcontainers. */
    public static final String TESTCONTAINERS = "testcontainers";
    /** {@link #kind} of an external Redis named by the {@code SLUICE_REDIS_URL} environment variable. */
    public static final String EXTERNAL = "SLUICE_REDIS_URL";

    private final String kind;
    private final String uri;
    private final String host;
    private final int port;
    private final @Nullable RedisServer server;

    private RedisEndpoint(String kind, String uri, String host, int port, @Nullable RedisServer server) {
        this.kind = kind;
        this.uri = uri;
        this.host = host;
        this.port = port;
        this.server = server;
    }

    static RedisEndpoint of(RedisServer server) {
        return new RedisEndpoint(PRIVATE_SERVER, server.uri(), server.host(), server.port(), server);
    }

    static RedisEndpoint unkillable(String kind, String uri, String host, int port) {
        return new RedisEndpoint(kind, uri, host, port, null);
    }

    /**
     * A Redis URI a client can connect with: {@code redis://host:port} for a private server or a container; for an
     * external Redis, {@code SLUICE_REDIS_URL} exactly as given (it may carry a password or a database).
     */
    public String uri() {
        return uri;
    }

    /** The host to connect to. */
    public String host() {
        return host;
    }

    /** The port to connect to. */
    public int port() {
        return port;
    }

    /** Whether {@link #kill} and {@link #restart} work: true only for a private {@code redis-server}. */
    public boolean canKill() {
        return server != null;
    }

    /**
     * Kills the server with SIGKILL and waits until it has exited.
     *
     * @throws UnsupportedOperationException unless {@link #canKill}
     */
    public void kill() {
        server("kill").kill();
    }

    /**
     * Starts the killed server again on the same port, empty, and waits until it answers.
     *
     * @throws UnsupportedOperationException unless {@link #canKill}
     */
    public void restart() {
        server("restart").restart();
    }

    /**
     * Holds every client's commands for {@code duration}, then lets them run: a stall, not a failure.
     *
     * @throws UnsupportedOperationException unless {@link #canKill}
     */
    public void stall(java.time.Duration duration) {
        server("stall").stall(duration);
    }

    /**
     * Holds every client's write commands for {@code duration} while reads are answered.
     *
     * @throws UnsupportedOperationException unless {@link #canKill}
     */
    public void stallWrites(java.time.Duration duration) {
        server("stallWrites").stallWrites(duration);
    }

    /** {@value #PRIVATE_SERVER}, {@value #TESTCONTAINERS} or {@value #EXTERNAL}. */
    public String kind() {
        return kind;
    }

    /** The kind and where it is, without any password the URI carries. */
    @Override
    public String toString() {
        return kind + " at " + host + ":" + port;
    }

    private RedisServer server(String operation) {
        RedisServer s = server;
        if (s == null) {
            throw new UnsupportedOperationException("cannot " + operation + " a Redis of kind '" + kind
                    + "': only a private redis-server can be killed and restarted (check canKill())");
        }
        return s;
    }
}

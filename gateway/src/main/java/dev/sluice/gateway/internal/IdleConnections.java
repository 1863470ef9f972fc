package dev.sluice.gateway.internal;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServerRequest;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Closes a client connection that stays {@code server.idleTimeout} with no call in progress: one that never finishes
 * its request's headers (the request handler only runs once they are all in, so nothing else would ever time it out)
 * and one idling between calls. A call in progress, however long it waits or stays silent, keeps its connection.
 *
 * <p>It relies on the server's connection handler running when a connection is accepted, which Vert.x does only with
 * HTTP/2 cleartext off (the gateway turns it off). One timer per connection, moved on only when it fires, not on every
 * call. Everything about one connection runs
 * on its event loop: the connection and request handlers, the response's end and close handlers, and the timers set
 * from them.
 */
final class IdleConnections {
    private static final Runnable NOTHING = () -> { };

    private final Vertx vertx;
    private final LongSupplier timeoutNanos;
    private final Map<HttpConnection, Watch> watches = new ConcurrentHashMap<>();

    /** Connections of {@code vertx} are closed after {@code timeoutNanos} idle, read each time a timer is set. */
    IdleConnections(Vertx vertx, LongSupplier timeoutNanos) {
        this.vertx = vertx;
        this.timeoutNanos = timeoutNanos;
    }

    /**
     * Starts watching {@code c}, idle from now (not at all if the timeout is zero); run what it returns when the
     * connection closes.
     */
    Runnable opened(HttpConnection c) {
        if (timeoutNanos.getAsLong() <= 0) {
            return NOTHING;
        }
        Watch w = new Watch(c);
        watches.put(c, w);
        w.arm(timeoutNanos.getAsLong());
        return () -> {
            watches.remove(c);
            w.stop();
        };
    }

    /**
     * A call begins on {@code req}'s connection; run what this returns (any number of times) when its response ends
     * or its connection closes. A connection not {@linkplain #opened opened} here is not watched.
     */
    Runnable enter(HttpServerRequest req) {
        Watch w = watches.get(req.connection());
        if (w == null) {
            return NOTHING;
        }
        w.busy++;
        boolean[] left = {false};
        return () -> {
            if (!left[0]) {
                left[0] = true;
                w.busy--;
                w.idleSince = System.nanoTime();
            }
        };
    }

    private final class Watch extends IdleTimer {
        final HttpConnection connection;
        int busy;
        long idleSince = System.nanoTime();

        Watch(HttpConnection connection) {
            super(vertx);
            this.connection = connection;
        }

        @Override
        long leftNanos() {
            long timeout = timeoutNanos.getAsLong();
            return busy > 0 ? timeout : timeout - (System.nanoTime() - idleSince);
        }

        @Override
        void fire() {
            connection.close();
        }
    }
}

package dev.sluice.gateway.internal;

import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import java.util.concurrent.TimeUnit;

/**
 * Fires once something has stayed idle for its timeout: one Vert.x timer, moved on only when it fires (not on every
 * sign of activity). Used from one event loop: the one that arms it, where it then fires.
 */
abstract class IdleTimer implements Handler<Long> {
    private final Vertx vertx;
    private long timer = -1;
    private boolean stopped;

    IdleTimer(Vertx vertx) {
        this.vertx = vertx;
    }

    /** The nanoseconds left before it should fire, as of now; zero or less fires it. */
    abstract long leftNanos();

    /** What firing does; runs at most once. */
    abstract void fire();

    /** Sets the timer {@code nanos} from now. */
    final void arm(long nanos) {
        timer = vertx.setTimer(Math.max(1, TimeUnit.NANOSECONDS.toMillis(nanos)), this);
    }

    /** Stops it for good. */
    final void stop() {
        stopped = true;
        if (timer >= 0) {
            vertx.cancelTimer(timer);
            timer = -1;
        }
    }

    @Override
    public final void handle(Long id) {
        timer = -1;
        if (stopped) {
            return;
        }
        long left = leftNanos();
        if (left > 0) {
            arm(left);
            return;
        }
        stopped = true;
        fire();
    }
}

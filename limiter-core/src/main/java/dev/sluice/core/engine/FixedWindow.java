package dev.sluice.core.engine;

import dev.sluice.api.Limit;
import org.jspecify.annotations.Nullable;

/**
 * Fixed window: a count per window {@code [k·P, (k+1)·P)}. Admits while {@code count + n ≤ capacity}; a denied call
 * waits for the next window.
 */
public final class FixedWindow {

    /** The window start and the units counted in it. */
    public record State(long windowStart, long count) implements LimitState {
    }

    private FixedWindow() {
    }

    static long windowStart(long now, long period) {
        return now - Math.floorMod(now, period);
    }

    /** The count that applies at {@code now}: 0 once the state's window is over. */
    private static long count(Limit limit, @Nullable State s, long now) {
        if (s == null) {
            return 0;
        }
        return now < s.windowStart() + limit.periodMicros() ? s.count() : 0;
    }

    static long waitMicros(Limit limit, @Nullable State s, long n, long now) {
        long count = count(limit, s, now);
        if (n <= limit.capacity() - count) {
            return 0;
        }
        long start = s != null && now < s.windowStart() ? s.windowStart() : windowStart(now, limit.periodMicros());
        return start + limit.periodMicros() - now;
    }

    static State charge(Limit limit, @Nullable State s, long n, long now) {
        long count = count(limit, s, now);
        if (count > 0 && s != null) {
            return new State(s.windowStart(), count + n);
        }
        return new State(windowStart(now, limit.periodMicros()), n);
    }

    static long remaining(Limit limit, @Nullable State s, long now) {
        return Math.max(0, limit.capacity() - count(limit, s, now));
    }

    static @Nullable State refund(Limit limit, @Nullable State s, long n, long now) {
        long count = count(limit, s, now);
        if (count == 0 || s == null) {
            return null;
        }
        return count <= n ? null : new State(s.windowStart(), count - n);
    }

    static long restAt(Limit limit, State s) {
        return s.count() > 0 ? s.windowStart() + limit.periodMicros() : Long.MIN_VALUE;
    }

    static long used(Limit limit, @Nullable State s, long now) {
        return count(limit, s, now);
    }

    static @Nullable State seed(Limit limit, long used, long now) {
        return used <= 0 ? null : new State(windowStart(now, limit.periodMicros()), Math.min(used, limit.capacity()));
    }
}

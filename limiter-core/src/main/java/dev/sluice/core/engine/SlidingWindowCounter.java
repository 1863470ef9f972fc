package dev.sluice.core.engine;

import dev.sluice.api.Limit;
import org.jspecify.annotations.Nullable;

/**
 * Sliding-window counter: counts for the current aligned window and the one before it. At elapsed time {@code e}
 * into the current window ({@code r = P − e} of the previous window still overlaps the sliding period), a call of
 * {@code n} units is admitted iff {@code previous·r + (current + n)·P ≤ capacity·P}, evaluated exactly in integers.
 * So the current window alone never exceeds the capacity, and the previous one is weighted by its overlap.
 */
public final class SlidingWindowCounter {

    /** The current window's start, the previous window's count and the current window's count. */
    public record State(long windowStart, long previous, long current) implements LimitState {
    }

    private SlidingWindowCounter() {
    }

    /** The state rolled forward to the window containing {@code now} (never backwards). */
    private static State view(Limit limit, @Nullable State s, long now) {
        long p = limit.periodMicros();
        if (s == null) {
            return new State(FixedWindow.windowStart(now, p), 0, 0);
        }
        if (now < s.windowStart() + p) {
            return s;
        }
        long start = FixedWindow.windowStart(now, p);
        if (start == s.windowStart() + p) {
            return new State(start, s.current(), 0);
        }
        return new State(start, 0, 0);
    }

    /** The part of the previous window still inside the sliding period, in (0, P]. */
    private static long overlap(Limit limit, State v, long now) {
        long elapsed = Math.max(0, now - v.windowStart());
        return limit.periodMicros() - elapsed;
    }

    static long waitMicros(Limit limit, @Nullable State s, long n, long now) {
        State v = view(limit, s, now);
        long p = limit.periodMicros();
        long cap = limit.capacity();
        if (n > cap - v.current()) {
            // Not before the next window, where the current count becomes the previous one.
            long prev = v.current();
            long elapsedNeeded = prev == 0 ? 0 : Math.max(0, p - Math.floorDiv((cap - n) * p, prev));
            return v.windowStart() + p + elapsedNeeded - now;
        }
        long r = overlap(limit, v, now);
        if (v.previous() == 0 || v.previous() * r <= (cap - v.current() - n) * p) {
            return 0;
        }
        long elapsedNeeded = p - Math.floorDiv((cap - v.current() - n) * p, v.previous());
        return v.windowStart() + elapsedNeeded - now;
    }

    static State charge(Limit limit, @Nullable State s, long n, long now) {
        State v = view(limit, s, now);
        return new State(v.windowStart(), v.previous(), v.current() + n);
    }

    static long remaining(Limit limit, @Nullable State s, long now) {
        State v = view(limit, s, now);
        long p = limit.periodMicros();
        long free = (limit.capacity() - v.current()) * p - v.previous() * overlap(limit, v, now);
        return free <= 0 ? 0 : free / p;
    }

    /** Gives back from the current window first, then from the previous one. */
    static @Nullable State refund(Limit limit, @Nullable State s, long n, long now) {
        if (s == null) {
            return null;
        }
        State v = view(limit, s, now);
        long fromCurrent = Math.min(n, v.current());
        long fromPrevious = Math.min(n - fromCurrent, v.previous());
        State r = new State(v.windowStart(), v.previous() - fromPrevious, v.current() - fromCurrent);
        return r.previous() == 0 && r.current() == 0 ? null : r;
    }

    static long restAt(Limit limit, State s) {
        long p = limit.periodMicros();
        if (s.current() > 0) {
            return s.windowStart() + 2 * p;
        }
        return s.previous() > 0 ? s.windowStart() + p : Long.MIN_VALUE;
    }

    static long used(Limit limit, @Nullable State s, long now) {
        State v = view(limit, s, now);
        long weighted = v.previous() * overlap(limit, v, now);
        return v.current() + Math.floorDiv(weighted + limit.periodMicros() - 1, limit.periodMicros());
    }

    static @Nullable State seed(Limit limit, long used, long now) {
        return used <= 0
                ? null
                : new State(FixedWindow.windowStart(now, limit.periodMicros()), 0, Math.min(used, limit.capacity()));
    }
}

package dev.sluice.core.engine;

import dev.sluice.api.Limit;
import org.jspecify.annotations.Nullable;

/**
 * Token bucket: holds at most {@code burst} units and refills at {@code capacity} per period. Tokens are kept scaled
 * by the period ({@code scaled = tokens·P}), and refill adds {@code capacity} scaled units per microsecond, so the
 * refill is exact with no fractional drift. A call of {@code n} is admitted iff {@code scaled ≥ n·P}.
 */
public final class TokenBucket {

    /** Scaled tokens ({@code tokens × periodMicros}) at time {@code last}. */
    public record State(long scaledTokens, long last) implements LimitState {
    }

    private TokenBucket() {
    }

    /** Scaled tokens at {@code now}, after refill, capped at {@code burst × P}. */
    static long scaled(Limit limit, @Nullable State s, long now) {
        long full = limit.burst() * limit.periodMicros();
        if (s == null) {
            return full;
        }
        long elapsed = now - s.last();
        if (elapsed <= 0) {
            return s.scaledTokens();
        }
        long missing = full - s.scaledTokens();
        if (missing <= elapsed) {
            return full; // capacity ≥ 1, so the refill elapsed·capacity covers what is missing
        }
        long refill = elapsed * limit.capacity();
        if (Math.multiplyHigh(elapsed, limit.capacity()) != 0 || refill < 0 || refill >= missing) {
            return full;
        }
        return s.scaledTokens() + refill;
    }

    static long waitMicros(Limit limit, @Nullable State s, long n, long now) {
        long need = n * limit.periodMicros() - scaled(limit, s, now);
        if (need <= 0) {
            return 0;
        }
        long base = s != null ? Math.max(0, s.last() - now) : 0;
        return base + Math.floorDiv(need + limit.capacity() - 1, limit.capacity());
    }

    /**
     * {@link #charge} if {@link #waitMicros} is 0, else null: the grant in one refill computation. The new state's
     * time is not before {@code now}, so its tokens are also what {@link #remaining} reads at {@code now}.
     */
    static @Nullable State grant(Limit limit, @Nullable State s, long n, long now) {
        long scaled = scaled(limit, s, now);
        long need = n * limit.periodMicros();
        if (scaled < need) {
            return null;
        }
        return new State(scaled - need, s != null ? Math.max(now, s.last()) : now);
    }

    static State charge(Limit limit, @Nullable State s, long n, long now) {
        long at = s != null ? Math.max(now, s.last()) : now;
        return new State(scaled(limit, s, at) - n * limit.periodMicros(), at);
    }

    static long remaining(Limit limit, @Nullable State s, long now) {
        return scaled(limit, s, now) / limit.periodMicros();
    }

    static @Nullable State refund(Limit limit, @Nullable State s, long n, long now) {
        if (s == null) {
            return null;
        }
        long at = Math.max(now, s.last());
        long full = limit.burst() * limit.periodMicros();
        long scaled = scaled(limit, s, at);
        long back = full - scaled <= n * limit.periodMicros() ? full : scaled + n * limit.periodMicros();
        return back == full ? null : new State(back, at);
    }

    static long restAt(Limit limit, State s) {
        long missing = limit.burst() * limit.periodMicros() - s.scaledTokens();
        return missing <= 0 ? Long.MIN_VALUE : s.last() + Math.floorDiv(missing + limit.capacity() - 1, limit.capacity());
    }

    static long used(Limit limit, @Nullable State s, long now) {
        long missing = limit.burst() * limit.periodMicros() - scaled(limit, s, now);
        return Math.floorDiv(missing + limit.periodMicros() - 1, limit.periodMicros());
    }

    static @Nullable State seed(Limit limit, long used, long now) {
        long u = Math.min(used, limit.burst());
        return u <= 0 ? null : new State((limit.burst() - u) * limit.periodMicros(), now);
    }

    /** The same consumption under a new limit with the same period: what was missing stays missing. */
    static @Nullable State rescale(Limit from, State s, Limit to, long now) {
        long at = Math.max(now, s.last());
        long missing = from.burst() * from.periodMicros() - scaled(from, s, at);
        long full = to.burst() * to.periodMicros();
        return missing <= 0 ? null : new State(Math.max(0, full - missing), at);
    }
}

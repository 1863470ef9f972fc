package dev.sluice.core.engine;

import dev.sluice.api.Limit;
import org.jspecify.annotations.Nullable;

/**
 * GCRA, the generic cell rate algorithm (a leaky bucket used as a meter). The state is the theoretical arrival time
 * {@code TAT = tat + fraction/capacity} µs; each unit moves it by the emission interval {@code T = P/capacity}. With
 * {@code debt = (TAT − now)·capacity} (in units of {@code 1/P}), a call of {@code n} is admitted iff
 * {@code debt + n·P ≤ burst·P}. All exact in integers: no rounding of {@code T}.
 */
public final class Gcra {

    /** The theoretical arrival time: {@code tat} µs plus {@code fraction/capacity} µs, {@code 0 ≤ fraction < capacity}. */
    public record State(long tat, long fraction) implements LimitState {
    }

    private Gcra() {
    }

    /** {@code (TAT − now)·capacity}, or 0 when TAT is not after {@code now}. */
    static long debt(Limit limit, @Nullable State s, long now) {
        if (s == null || s.tat() < now || (s.tat() == now && s.fraction() == 0)) {
            return 0;
        }
        return (s.tat() - now) * limit.capacity() + s.fraction();
    }

    /**
     * The debt after charging {@code n} at {@code now} if {@link #waitMicros} is 0, else -1: the grant in one debt
     * computation; {@link #at} of it is what {@link #charge} returns, and {@link #debt} of that state at {@code now} is
     * the same debt again.
     */
    static long debtAfter(Limit limit, @Nullable State s, long n, long now) {
        return debtAfter(limit, debt(limit, s, now), n);
    }

    /** The admission test on a debt: the debt after charging {@code n}, or -1 if {@code n} is not admitted now. */
    static long debtAfter(Limit limit, long debt, long n) {
        return debt - (limit.burst() - n) * limit.periodMicros() <= 0 ? debt + n * limit.periodMicros() : -1;
    }

    static @Nullable State at(Limit limit, long now, long debt) {
        if (debt <= 0) {
            return null;
        }
        long whole = debt / limit.capacity();
        return new State(now + whole, debt - whole * limit.capacity());
    }

    static long waitMicros(Limit limit, @Nullable State s, long n, long now) {
        return waitMicros(limit, debt(limit, s, now), n);
    }

    /**
     * The exact wait until a debt admits {@code n}: 0 if it does now. The ceiling of {@code excess / capacity} is taken
     * without adding {@code capacity − 1} first, which would overflow for a capacity near {@code Long.MAX_VALUE}.
     */
    static long waitMicros(Limit limit, long debt, long n) {
        long excess = debt - (limit.burst() - n) * limit.periodMicros();
        if (excess <= 0) {
            return 0;
        }
        long capacity = limit.capacity();
        long whole = excess / capacity;
        return whole * capacity == excess ? whole : whole + 1;
    }

    static State charge(Limit limit, @Nullable State s, long n, long now) {
        State next = at(limit, now, debt(limit, s, now) + n * limit.periodMicros());
        if (next == null) {
            throw new IllegalStateException("a charge always leaves debt");
        }
        return next;
    }

    static long remaining(Limit limit, @Nullable State s, long now) {
        return remaining(limit, debt(limit, s, now));
    }

    /** Units a debt leaves grantable. */
    static long remaining(Limit limit, long debt) {
        long free = limit.burst() * limit.periodMicros() - debt;
        return free <= 0 ? 0 : free / limit.periodMicros();
    }

    static @Nullable State refund(Limit limit, @Nullable State s, long n, long now) {
        return at(limit, now, debt(limit, s, now) - n * limit.periodMicros());
    }

    static long restAt(Limit limit, State s) {
        return s.fraction() > 0 ? s.tat() + 1 : s.tat();
    }

    static long used(Limit limit, @Nullable State s, long now) {
        long debt = debt(limit, s, now);
        return Math.floorDiv(debt + limit.periodMicros() - 1, limit.periodMicros());
    }

    static @Nullable State seed(Limit limit, long used, long now) {
        return at(limit, now, Math.min(used, limit.burst()) * limit.periodMicros());
    }

    /** The same consumption under a new limit with the same period, capped at the new burst. */
    static @Nullable State rescale(Limit from, State s, Limit to, long now) {
        long debt = Math.min(debt(from, s, now), to.burst() * to.periodMicros());
        return at(to, now, debt);
    }
}

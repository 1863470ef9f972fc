package dev.sluice.core.engine;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import org.jspecify.annotations.Nullable;

/**
 * The state of a policy of one {@link Algorithm#GCRA} limit in one {@code long}, for executors that compare-and-set
 * a primitive instead of replacing an object: the theoretical arrival time in units of {@code 1/capacity} µs after a
 * base time the executor keeps beside the cell. The decisions are {@link Gcra}'s, taken on the same debt; only the
 * representation differs, and {@link #toState} and {@link #toCell} convert exactly.
 *
 * <p>A cell is valid while {@code 0 ≤ now − base ≤ }{@link #span}; outside that, the executor converts it to the
 * reference state (or to a cell on a new base). No state is the cell 0; a cell is never negative, so executors may
 * use negative values as markers.
 */
public final class GcraCell {

    /** Spans shorter than this are not worth a cell: the executor would rebase too often. */
    private static final long MIN_SPAN_MICROS = 60_000_000;
    /** How far before the time of its creation a cell's base lies. */
    private static final long SLACK_MICROS = 1_000_000;

    private GcraCell() {
    }

    /** Whether {@code policy}'s state can live in a cell: one GCRA limit whose {@link #span} is at least a minute. */
    public static boolean fits(Policy policy) {
        return policy.size() == 1 && policy.limit(0).algorithm() == Algorithm.GCRA
                && span(policy.limit(0)) >= MIN_SPAN_MICROS;
    }

    /**
     * How long after its base a cell of {@code limit} stays valid: every value the cell and the scaled time take
     * stays below {@code 2^62}, so no sum of two overflows.
     */
    public static long span(Limit limit) {
        return ((1L << 62) - limit.burst() * limit.periodMicros()) / limit.capacity();
    }

    /** {@code now} on the cell's scale; valid for {@code 0 ≤ now − base ≤ span}. */
    public static long scaledNow(Limit limit, long base, long now) {
        return scaledNow(limit.capacity(), base, now);
    }

    /** {@link #scaledNow(Limit, long, long)} for a limit of {@code capacity} units per period. */
    public static long scaledNow(long capacity, long base, long now) {
        return (now - base) * capacity;
    }

    /** The debt ({@code (TAT − now)·capacity}, or 0) a cell holds at a scaled time. */
    public static long debt(long cell, long scaledNow) {
        return cell > scaledNow ? cell - scaledNow : 0;
    }

    /** The most debt a grant may leave: the whole burst, {@code burst × period}; below {@code 2^62} for a cell. */
    public static long tolerance(Limit limit) {
        return limit.burst() * limit.periodMicros();
    }

    /**
     * {@link PolicyEngine#acquireSingle}'s admission test on a debt, from numbers an executor keeps beside its cell:
     * the debt after charging {@code charge} ({@code n × period}), or -1 if denied; {@code tolerance} is the limit's
     * {@link #tolerance}. Exact for any cell's debt and a charge of at most the limit's largest cost.
     */
    public static long debtAfter(long debt, long charge, long tolerance) {
        long after = debt + charge;
        return after <= tolerance ? after : -1;
    }

    /** The decision {@link PolicyEngine#acquireSingle} gives for a grant that leaves {@code debtAfter}. */
    public static Decision granted(Policy policy, long debtAfter) {
        return Decision.granted(policy, Gcra.remaining(policy.limit(0), debtAfter));
    }

    /**
     * The decision {@link #granted(Policy, long)} gives for a grant of {@code n} units ({@code n ≥ 1}) at {@code debt}
     * that leaves {@code debtAfter}, from numbers an executor keeps beside its cell. A key at rest (no debt) is left
     * {@code burst − n} units, without the division.
     */
    public static Decision granted(Policy policy, long burst, long period, long tolerance, long debt, long n,
            long debtAfter) {
        return Decision.granted(policy, debt == 0 ? burst - n : (tolerance - debtAfter) / period);
    }

    /** The decision {@link PolicyEngine#acquireSingle} gives for a denial of {@code n} at {@code debt}. */
    public static Decision denied(Policy policy, long debt, long n) {
        Limit limit = policy.limit(0);
        return Decision.rateLimited(policy, Gcra.waitMicros(limit, debt, n), Gcra.remaining(limit, debt));
    }

    /** {@link PolicyEngine#refund}'s new debt: {@code n} units given back, never below none. */
    public static long debtAfterRefund(Limit limit, long debt, long n) {
        return Math.max(0, debt - n * limit.periodMicros());
    }

    /**
     * The cell after a refund leaves {@code debtAfter} at {@code scaledNow}: 0 (no state) when no debt is left, as the
     * reference then forgets the state, else the arrival time the reference sets.
     */
    public static long cellAfterRefund(long scaledNow, long debtAfter) {
        return debtAfter == 0 ? 0 : scaledNow + debtAfter;
    }

    /** The decision {@link PolicyEngine#refund} gives when the refund leaves {@code debtAfter}. */
    public static Decision refunded(Policy policy, long debtAfter) {
        return Decision.refunded(policy, new long[] {Gcra.remaining(policy.limit(0), debtAfter)});
    }

    /** The reference state a cell holds: {@code null} for a cell at or before its base. */
    public static @Nullable LimitState toState(Limit limit, long base, long cell) {
        if (cell <= 0) {
            return null;
        }
        long whole = cell / limit.capacity();
        return new Gcra.State(base + whole, cell - whole * limit.capacity());
    }

    /**
     * The base on which to hold {@code s} at {@code now}: a second before {@code now}, so that callers that read the
     * clock a moment before are covered too, or just before the state's theoretical arrival time if that is earlier,
     * so that {@link #toCell} holds it exactly.
     */
    public static long base(@Nullable LimitState s, long now) {
        long base = now - SLACK_MICROS;
        return s == null ? base : Math.min(base, ((Gcra.State) s).tat() - 1);
    }

    /**
     * The cell on {@code base} that holds the reference state {@code s} exactly ({@link #toState} gives it back), or
     * -1 if no cell valid at {@code now} does: {@code now} outside the {@link #span} of {@code base}, a state that
     * starts before the base, or a debt beyond the burst (a clock that went back). No state is the cell 0.
     */
    public static long toCell(Limit limit, long base, @Nullable LimitState s, long now) {
        if (now < base || now - base > span(limit)) {
            return -1;
        }
        Gcra.State g = (Gcra.State) s;
        if (g == null) {
            return 0;
        }
        // The second test is a coarse form of the exact one below that keeps the product there from overflowing.
        if (g.tat() <= base || g.tat() - now > tolerance(limit) / limit.capacity()) {
            return -1;
        }
        long cell = (g.tat() - base) * limit.capacity() + g.fraction();
        return cell - scaledNow(limit, base, now) > tolerance(limit) ? -1 : cell;
    }

    /** The earliest time at which a cell is at rest, as {@link PolicyEngine#restAt} for its state. */
    public static long restAt(Limit limit, long base, long cell) {
        return base + Math.floorDiv(cell + limit.capacity() - 1, limit.capacity());
    }
}

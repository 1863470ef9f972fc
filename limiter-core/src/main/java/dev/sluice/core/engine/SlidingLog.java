package dev.sluice.core.engine;

import dev.sluice.api.Limit;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * Sliding log: every grant of the last period, as (time, units) entries in ascending time. An entry stops counting
 * when {@code now ≥ time + P}. Admits while the units of the live entries plus {@code n} fit the capacity; a denied
 * call waits until enough of the oldest entries have expired. Exact in every period-long window.
 */
public final class SlidingLog {

    /** Grant times (ascending, microseconds) and their units; equal-length arrays, never modified. */
    public static final class State implements LimitState {
        private final long[] times;
        private final long[] units;

        /** A log of these entries; the arrays are kept, not copied. */
        public State(long[] times, long[] units) {
            if (times.length != units.length || times.length == 0) {
                throw new IllegalArgumentException("times and units must be non-empty and of equal length");
            }
            this.times = times;
            this.units = units;
        }

        /** The number of entries. */
        public int size() {
            return times.length;
        }

        /** The time of entry {@code i}. */
        public long time(int i) {
            return times[i];
        }

        /** The units of entry {@code i}. */
        public long units(int i) {
            return units[i];
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof State s && Arrays.equals(times, s.times) && Arrays.equals(units, s.units);
        }

        @Override
        public int hashCode() {
            return 31 * Arrays.hashCode(times) + Arrays.hashCode(units);
        }

        @Override
        public String toString() {
            return "SlidingLog.State" + Arrays.toString(times) + Arrays.toString(units);
        }
    }

    private SlidingLog() {
    }

    /** Index of the first entry still counting at {@code now}. */
    private static int firstLive(Limit limit, State s, long now) {
        long cutoff = now - limit.periodMicros();
        int i = 0;
        while (i < s.times.length && s.times[i] <= cutoff) {
            i++;
        }
        return i;
    }

    private static long used(State s, int from) {
        long sum = 0;
        for (int i = from; i < s.units.length; i++) {
            sum += s.units[i];
        }
        return sum;
    }

    static long waitMicros(Limit limit, @Nullable State s, long n, long now) {
        if (s == null) {
            return 0;
        }
        int from = firstLive(limit, s, now);
        long used = used(s, from);
        if (n <= limit.capacity() - used) {
            return 0;
        }
        long need = used + n - limit.capacity();
        long freed = 0;
        for (int i = from; i < s.times.length; i++) {
            freed += s.units[i];
            if (freed >= need) {
                return s.times[i] + limit.periodMicros() - now;
            }
        }
        throw new IllegalStateException("cost " + n + " exceeds " + limit);
    }

    static State charge(Limit limit, @Nullable State s, long n, long now) {
        if (s == null) {
            return new State(new long[] {now}, new long[] {n});
        }
        int from = firstLive(limit, s, now);
        int live = s.times.length - from;
        long at = live > 0 ? Math.max(now, s.times[s.times.length - 1]) : now;
        if (live > 0 && s.times[s.times.length - 1] == at) {
            long[] times = Arrays.copyOfRange(s.times, from, s.times.length);
            long[] units = Arrays.copyOfRange(s.units, from, s.units.length);
            units[live - 1] += n;
            return new State(times, units);
        }
        long[] times = new long[live + 1];
        long[] units = new long[live + 1];
        System.arraycopy(s.times, from, times, 0, live);
        System.arraycopy(s.units, from, units, 0, live);
        times[live] = at;
        units[live] = n;
        return new State(times, units);
    }

    static long remaining(Limit limit, @Nullable State s, long now) {
        return s == null ? limit.capacity() : Math.max(0, limit.capacity() - used(s, firstLive(limit, s, now)));
    }

    /** Takes {@code n} units back from the newest entries. */
    static @Nullable State refund(Limit limit, @Nullable State s, long n, long now) {
        if (s == null) {
            return null;
        }
        int from = firstLive(limit, s, now);
        long[] times = Arrays.copyOfRange(s.times, from, s.times.length);
        long[] units = Arrays.copyOfRange(s.units, from, s.units.length);
        int end = times.length;
        long left = n;
        while (end > 0 && left > 0) {
            long take = Math.min(left, units[end - 1]);
            units[end - 1] -= take;
            left -= take;
            if (units[end - 1] == 0) {
                end--;
            }
        }
        if (end == 0) {
            return null;
        }
        return new State(Arrays.copyOf(times, end), Arrays.copyOf(units, end));
    }

    static long restAt(Limit limit, State s) {
        return s.times[s.times.length - 1] + limit.periodMicros();
    }

    static long used(Limit limit, @Nullable State s, long now) {
        return s == null ? 0 : used(s, firstLive(limit, s, now));
    }

    static @Nullable State seed(Limit limit, long used, long now) {
        return used <= 0 ? null : new State(new long[] {now}, new long[] {Math.min(used, limit.capacity())});
    }
}

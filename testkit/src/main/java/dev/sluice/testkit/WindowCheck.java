package dev.sluice.testkit;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Limit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Checks recorded grants against the bound each algorithm promises (see {@link Algorithm}):
 * <ul>
 *   <li>sliding log: at most {@code capacity} units in every window {@code [t, t + P)};</li>
 *   <li>token bucket and GCRA: at most {@code burst + d·capacity/P} units in every closed span of length {@code d}
 *       (so a GCRA with burst 1 is exact over a period);</li>
 *   <li>fixed window and sliding-window counter: at most {@code capacity} in every aligned window.</li>
 * </ul>
 */
public final class WindowCheck {

    private WindowCheck() {
    }

    /**
     * Fails with the offending window if the grants break {@code limit}'s bound.
     *
     * @param grants {@code {timeMicros, units}} pairs in non-decreasing time order
     */
    public static void assertWithinBound(Limit limit, List<long[]> grants) {
        List<long[]> g = merge(grants);
        long p = limit.periodMicros();
        switch (limit.algorithm()) {
            case SLIDING_LOG -> {
                for (int i = 0; i < g.size(); i++) {
                    long sum = 0;
                    for (int j = i; j < g.size() && g.get(j)[0] < g.get(i)[0] + p; j++) {
                        sum += g.get(j)[1];
                    }
                    check(sum <= limit.capacity(), limit, sum, "window starting at " + g.get(i)[0]);
                }
            }
            case TOKEN_BUCKET, GCRA -> {
                for (int i = 0; i < g.size(); i++) {
                    long sum = 0;
                    for (int j = i; j < g.size(); j++) {
                        sum += g.get(j)[1];
                        long span = g.get(j)[0] - g.get(i)[0];
                        check(sum * p <= limit.burst() * p + span * limit.capacity(), limit, sum,
                                "span [" + g.get(i)[0] + ", " + g.get(j)[0] + "]");
                    }
                }
            }
            case FIXED_WINDOW, SLIDING_WINDOW_COUNTER -> {
                Map<Long, Long> perWindow = new TreeMap<>();
                for (long[] e : g) {
                    perWindow.merge(Math.floorDiv(e[0], p), e[1], Long::sum);
                }
                perWindow.forEach((w, sum) -> check(sum <= limit.capacity(), limit, sum, "aligned window " + w * p));
            }
        }
    }

    private static List<long[]> merge(List<long[]> grants) {
        List<long[]> out = new ArrayList<>();
        for (long[] e : grants) {
            if (!out.isEmpty() && out.get(out.size() - 1)[0] == e[0]) {
                out.get(out.size() - 1)[1] += e[1];
            } else if (!out.isEmpty() && out.get(out.size() - 1)[0] > e[0]) {
                throw new IllegalArgumentException("grants must be in time order");
            } else {
                out.add(new long[] {e[0], e[1]});
            }
        }
        return out;
    }

    private static void check(boolean ok, Limit limit, long sum, String where) {
        if (!ok) {
            throw new AssertionError(sum + " units admitted in " + where + " exceed the bound of " + limit);
        }
    }
}

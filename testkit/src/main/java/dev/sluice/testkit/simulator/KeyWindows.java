package dev.sluice.testkit.simulator;

import java.util.Map;
import java.util.TreeMap;
import org.jspecify.annotations.Nullable;

/**
 * The exact sliding windows of one API key, on the requests' arrival times: an entry stops counting when
 * {@code now >= time + window}. Requests whose bodies finish in another order than they arrived are still counted
 * at their arrival. A dimension without a limit is not counted, so memory stays bounded by the limits (at most one
 * entry per admitted request and window). Not thread-safe: the simulator guards it with its own lock.
 */
final class KeyWindows {

    /** Why a request was refused, in the order the limits are checked. */
    enum Refusal { CONCURRENCY, REQUESTS_PER_DAY, REQUESTS, TOKENS, TOO_LARGE }

    /** The outcome of {@link #admit}: null refusal when admitted; waits in microseconds. */
    record Admission(@Nullable Refusal refusal, long retryAfterMicros) {
    }

    /** Arrival time to units (requests or tokens) admitted at that time. */
    private final TreeMap<Long, Long> requests = new TreeMap<>();
    private final TreeMap<Long, Long> tokens = new TreeMap<>();
    private final TreeMap<Long, Long> daily = new TreeMap<>();
    private long requestsUsed;
    private long tokensUsed;
    private long dailyUsed;
    int inFlight;

    private static long expire(TreeMap<Long, Long> log, long used, long window, long now) {
        long u = used;
        while (!log.isEmpty() && log.firstKey() + window <= now) {
            u -= log.pollFirstEntry().getValue();
        }
        return u;
    }

    private void expire(SimulatorLimits l, long now) {
        long w = l.window().toNanos() / 1000;
        requestsUsed = expire(requests, requestsUsed, w, now);
        tokensUsed = expire(tokens, tokensUsed, w, now);
        dailyUsed = expire(daily, dailyUsed, l.dayWindow().toNanos() / 1000, now);
    }

    /** The wait until {@code need} units of the log have expired. */
    private static long waitFor(TreeMap<Long, Long> log, long need, long window, long now) {
        long freed = 0;
        for (Map.Entry<Long, Long> e : log.entrySet()) {
            freed += e.getValue();
            if (freed >= need) {
                return Math.max(1, e.getKey() + window - now);
            }
        }
        return window;
    }

    /**
     * Admits and charges a request of {@code cost} tokens that arrived at {@code arrived}, or says which limit refuses
     * it and for how long. A window counts the entries that arrived within one window before {@code arrived}, and
     * those that arrived later but were admitted before it.
     */
    Admission admit(SimulatorLimits l, long cost, long arrived) {
        long now = arrived;
        expire(l, now);
        if (l.concurrent() > 0 && inFlight >= l.concurrent()) {
            return new Admission(Refusal.CONCURRENCY, 0);
        }
        if (l.requestsPerDay() > 0 && dailyUsed + 1 > l.requestsPerDay()) {
            return new Admission(Refusal.REQUESTS_PER_DAY,
                    waitFor(daily, dailyUsed + 1 - l.requestsPerDay(), l.dayWindow().toNanos() / 1000, now));
        }
        long w = l.window().toNanos() / 1000;
        if (l.requests() > 0 && requestsUsed + 1 > l.requests()) {
            return new Admission(Refusal.REQUESTS, waitFor(requests, requestsUsed + 1 - l.requests(), w, now));
        }
        if (l.tokens() > 0) {
            if (cost > l.tokens()) {
                return new Admission(Refusal.TOO_LARGE, 0);
            }
            if (tokensUsed + cost > l.tokens()) {
                return new Admission(Refusal.TOKENS, waitFor(tokens, tokensUsed + cost - l.tokens(), w, now));
            }
        }
        // Only limited dimensions are logged: an unlimited one would keep an entry per arrival for its whole window
        // (a day for the daily log), millions of entries under load, and full-heap pauses.
        if (l.requests() > 0) {
            requests.merge(now, 1L, Long::sum);
            requestsUsed++;
        }
        if (l.requestsPerDay() > 0) {
            daily.merge(now, 1L, Long::sum);
            dailyUsed++;
        }
        if (l.tokens() > 0) {
            tokens.merge(now, cost, Long::sum);
            tokensUsed += cost;
        }
        inFlight++;
        return new Admission(null, 0);
    }

    long remainingRequests(SimulatorLimits l, long now) {
        expire(l, now);
        return Math.max(0, l.requests() - requestsUsed);
    }

    long remainingTokens(SimulatorLimits l, long now) {
        expire(l, now);
        return Math.max(0, l.tokens() - tokensUsed);
    }

    /** Until the request window is back to its initial state (OpenAI's {@code x-ratelimit-reset-requests}). */
    long resetRequestsMicros(SimulatorLimits l, long now) {
        return requests.isEmpty() ? 0 : Math.max(0, requests.lastKey() + l.window().toNanos() / 1000 - now);
    }

    /** Entries held in the three logs, for tests of the memory bound. */
    int entries() {
        return requests.size() + tokens.size() + daily.size();
    }

    /** Until the token window is back to its initial state. */
    long resetTokensMicros(SimulatorLimits l, long now) {
        return tokens.isEmpty() ? 0 : Math.max(0, tokens.lastKey() + l.window().toNanos() / 1000 - now);
    }
}

package dev.sluice.testkit.simulator;

import java.util.ArrayDeque;
import org.jspecify.annotations.Nullable;

/**
 * The exact sliding windows of one API key. An entry stops counting when {@code now >= time + window}. Not
 * thread-safe: the simulator guards it with its own lock.
 */
final class KeyWindows {

    /** Why a request was refused, in the order the limits are checked. */
    enum Refusal { CONCURRENCY, REQUESTS_PER_DAY, REQUESTS, TOKENS, TOO_LARGE }

    /** The outcome of {@link #admit}: null refusal when admitted; waits in microseconds. */
    record Admission(@Nullable Refusal refusal, long retryAfterMicros) {
    }

    private final ArrayDeque<long[]> requests = new ArrayDeque<>(); // {time}
    private final ArrayDeque<long[]> tokens = new ArrayDeque<>(); // {time, tokens}
    private final ArrayDeque<long[]> daily = new ArrayDeque<>(); // {time}
    private long tokensUsed;
    private long latest = Long.MIN_VALUE;
    int inFlight;

    private void expire(SimulatorLimits l, long now) {
        long w = l.window().toNanos() / 1000;
        while (!requests.isEmpty() && requests.peekFirst()[0] + w <= now) {
            requests.pollFirst();
        }
        while (!tokens.isEmpty() && tokens.peekFirst()[0] + w <= now) {
            tokensUsed -= tokens.pollFirst()[1];
        }
        long d = l.dayWindow().toNanos() / 1000;
        while (!daily.isEmpty() && daily.peekFirst()[0] + d <= now) {
            daily.pollFirst();
        }
    }

    /** Admits and charges a request of {@code cost} tokens, or says which limit refuses it and for how long. */
    Admission admit(SimulatorLimits l, long cost, long arrived) {
        // Requests are stamped on arrival; one whose body took longer counts from the latest stamp, so the windows
        // stay in time order (stricter, never looser).
        long now = Math.max(arrived, latest);
        latest = now;
        expire(l, now);
        if (l.concurrent() > 0 && inFlight >= l.concurrent()) {
            return new Admission(Refusal.CONCURRENCY, 0);
        }
        if (l.requestsPerDay() > 0 && daily.size() >= l.requestsPerDay()) {
            long wait = daily.peekFirst()[0] + l.dayWindow().toNanos() / 1000 - now;
            return new Admission(Refusal.REQUESTS_PER_DAY, wait);
        }
        long w = l.window().toNanos() / 1000;
        if (l.requests() > 0 && requests.size() >= l.requests()) {
            // The oldest entry must leave for one more to fit.
            int excess = (int) (requests.size() - l.requests());
            long[] e = nth(requests, excess);
            return new Admission(Refusal.REQUESTS, e[0] + w - now);
        }
        if (l.tokens() > 0) {
            if (cost > l.tokens()) {
                return new Admission(Refusal.TOO_LARGE, 0);
            }
            if (tokensUsed + cost > l.tokens()) {
                long need = tokensUsed + cost - l.tokens();
                long freed = 0;
                long wait = 0;
                for (long[] e : tokens) {
                    freed += e[1];
                    if (freed >= need) {
                        wait = e[0] + w - now;
                        break;
                    }
                }
                return new Admission(Refusal.TOKENS, wait);
            }
        }
        requests.addLast(new long[] {now});
        daily.addLast(new long[] {now});
        tokens.addLast(new long[] {now, cost});
        tokensUsed += cost;
        inFlight++;
        return new Admission(null, 0);
    }

    private static long[] nth(ArrayDeque<long[]> q, int n) {
        int i = 0;
        for (long[] e : q) {
            if (i++ == n) {
                return e;
            }
        }
        return q.peekLast();
    }

    long remainingRequests(SimulatorLimits l, long now) {
        expire(l, now);
        return Math.max(0, l.requests() - requests.size());
    }

    long remainingTokens(SimulatorLimits l, long now) {
        expire(l, now);
        return Math.max(0, l.tokens() - tokensUsed);
    }

    /** Until the request window is back to its initial state (OpenAI's {@code x-ratelimit-reset-requests}). */
    long resetRequestsMicros(SimulatorLimits l, long now) {
        return requests.isEmpty() ? 0 : Math.max(0, requests.peekLast()[0] + l.window().toNanos() / 1000 - now);
    }

    /** Until the token window is back to its initial state. */
    long resetTokensMicros(SimulatorLimits l, long now) {
        return tokens.isEmpty() ? 0 : Math.max(0, tokens.peekLast()[0] + l.window().toNanos() / 1000 - now);
    }
}

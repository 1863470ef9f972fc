package dev.sluice.governor;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The limits of one model at one provider, as read from a {@link ProviderProfiles} file: per short window (a minute
 * at real providers) requests, tokens, and input and output tokens where the provider splits them; per day requests
 * and tokens, with the {@link DailyReset}; concurrent requests. Zero means the provider sets no such limit. Immutable.
 *
 * @param provider the provider's name in the profiles, such as {@code groq}
 * @param model the model's name, such as {@code llama-3.1-8b-instant}
 * @param requests requests per {@code window}
 * @param tokens tokens (input + output) per {@code window}
 * @param inputTokens input tokens per {@code window}
 * @param outputTokens output tokens per {@code window}
 * @param requestsPerDay requests per day
 * @param tokensPerDay tokens per day
 * @param concurrent requests in progress at once
 * @param window the short window, one minute unless scaled (tests scale it to a second)
 * @param dayWindow the day (scaled in tests)
 * @param guard added to every window the governor enforces, so that a call reserved at the edge of a window and
 *     admitted a little later by the provider still falls in the provider's next window
 * @param dailyReset when the daily limits start afresh
 * @param dialect the provider's rate-limit headers
 * @param encoding the jtokkit encoding of the model's tokenizer ({@code o200k_base}, {@code cl100k_base},
 *     {@code p50k_base}, {@code r50k_base}), or null to use the conservative estimate
 * @param defaultMaxTokens the output reserved when a request gives no {@code max_tokens}
 * @param imageTokens the prompt tokens reserved for each image part of a request (see {@link #DEFAULT_IMAGE_TOKENS})
 * @param leaseTtl how long a concurrency slot stays taken if its caller dies without releasing it
 * @param adaptive whether to find the rate from 429s (additive increase, multiplicative decrease)
 * @param chargesMaxTokens whether the provider counts a call's {@code max_tokens} in full against its token limits,
 *     however few it generated, as OpenAI documents; then only the prompt's estimate is settled, not unused output
 * @param spread also enforce each short-window limit over {@code window / spread} with {@code limit / spread}
 *     (1 = off): keeps a full window's quota from leaving in one burst, as providers that enforce per-minute
 *     limits over shorter periods expect, and so that calls do not reach the provider in a crowd
 * @param source the public page the numbers come from
 * @param read when they were read there
 */
public record ModelProfile(String provider, String model, long requests, long tokens, long inputTokens,
        long outputTokens, long requestsPerDay, long tokensPerDay, long concurrent, Duration window,
        Duration dayWindow, Duration guard, DailyReset dailyReset, HeaderDialect dialect, @Nullable String encoding,
        long defaultMaxTokens, long imageTokens, Duration leaseTtl, boolean adaptive, boolean chargesMaxTokens, int spread,
        @Nullable String source, @Nullable String read) {

    /**
     * The prompt tokens reserved for an image unless a profile says otherwise: the most one image costs under OpenAI's
     * tile formula for the gpt-4o class at {@code detail: high} (8 tiles of 170 tokens plus 85), whatever its size.
     * Models that count images higher (gpt-4o-mini: about 33 times) need their own {@code imageTokens}.
     */
    public static final long DEFAULT_IMAGE_TOKENS = 1445;

    /** The dimension of requests. */
    public static final String REQUESTS = "requests";
    /** The dimension of tokens, input + output. */
    public static final String TOKENS = "tokens";
    /** The dimension of input tokens. */
    public static final String INPUT_TOKENS = "input_tokens";
    /** The dimension of output tokens. */
    public static final String OUTPUT_TOKENS = "output_tokens";
    /** The dimension of concurrency leases. */
    public static final String CONCURRENT = "concurrent";

    /** Validates. */
    public ModelProfile {
        Objects.requireNonNull(provider, "provider");
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(window, "window");
        Objects.requireNonNull(dayWindow, "dayWindow");
        Objects.requireNonNull(guard, "guard");
        Objects.requireNonNull(dailyReset, "dailyReset");
        Objects.requireNonNull(dialect, "dialect");
        Objects.requireNonNull(leaseTtl, "leaseTtl");
        for (long v : new long[] {requests, tokens, inputTokens, outputTokens, requestsPerDay, tokensPerDay,
            concurrent}) {
            if (v < 0) {
                throw new IllegalArgumentException(provider + "/" + model + ": limits must be 0 (none) or positive");
            }
        }
        if (spread < 1) {
            throw new IllegalArgumentException(provider + "/" + model + ": spread must be at least 1");
        }
        if (defaultMaxTokens < 1) {
            throw new IllegalArgumentException(provider + "/" + model + ": defaultMaxTokens must be positive");
        }
        if (imageTokens < 0) {
            throw new IllegalArgumentException(provider + "/" + model + ": imageTokens must be 0 or positive");
        }
        if ((requests | tokens | inputTokens | outputTokens | requestsPerDay | tokensPerDay | concurrent) == 0) {
            throw new IllegalArgumentException(provider + "/" + model
                    + ": a profile with no limit at all would be unlimited; give at least one limit");
        }
    }

    /** This profile with other short-window request and token limits (learned from the provider). */
    public ModelProfile withWindowLimits(long requests, long tokens) {
        return new ModelProfile(provider, model, requests, tokens, inputTokens, outputTokens, requestsPerDay,
                tokensPerDay, concurrent, window, dayWindow, guard, dailyReset, dialect, encoding, defaultMaxTokens,
                imageTokens, leaseTtl, adaptive, chargesMaxTokens, spread, source, read);
    }

    /** This profile with another daily request limit (learned from the provider). */
    public ModelProfile withRequestsPerDay(long requestsPerDay) {
        return new ModelProfile(provider, model, requests, tokens, inputTokens, outputTokens, requestsPerDay,
                tokensPerDay, concurrent, window, dayWindow, guard, dailyReset, dialect, encoding, defaultMaxTokens,
                imageTokens, leaseTtl, adaptive, chargesMaxTokens, spread, source, read);
    }

    /**
     * The limiter policy that enforces this profile, all dimensions acquired at once. Short windows are exact sliding
     * logs (sliding-window counters above {@link Limit#MAX_LOG_CAPACITY}) over {@code window + guard}; daily limits
     * are a fixed window when they reset at midnight UTC, otherwise a rolling day (never more than the limit in any
     * calendar day, so it is safe for any reset time); concurrency is a sliding log of {@code concurrent} leases per
     * {@code leaseTtl}.
     */
    public Policy policy() {
        List<Limit> limits = new ArrayList<>();
        Duration w = window.plus(guard);
        add(limits, REQUESTS, requests, w);
        add(limits, TOKENS, tokens, w);
        if (spread > 1) {
            Duration sub = w.dividedBy(spread);
            if (requests > 0) {
                add(limits, REQUESTS, Math.max(1, requests / spread), sub);
            }
            // Tokens are not spread: one call may need a large share of the window.
        }
        add(limits, INPUT_TOKENS, inputTokens, w);
        add(limits, OUTPUT_TOKENS, outputTokens, w);
        addDaily(limits, REQUESTS, requestsPerDay);
        addDaily(limits, TOKENS, tokensPerDay);
        if (concurrent > 0) {
            limits.add(Limit.of(CONCURRENT, concurrent, leaseTtl, Algorithm.SLIDING_LOG));
        }
        return Policy.of(limits);
    }

    /** The short-window limit of {@code dimension} in {@link #policy()}, or null. */
    public @Nullable Limit windowLimit(Policy policy, String dimension) {
        Duration w = window.plus(guard);
        for (Limit l : policy.limits()) {
            if (l.dimension().equals(dimension) && l.period().equals(w)) {
                return l;
            }
        }
        return null;
    }

    private static void add(List<Limit> limits, String dimension, long capacity, Duration period) {
        if (capacity > 0) {
            Algorithm a = capacity <= Limit.MAX_LOG_CAPACITY ? Algorithm.SLIDING_LOG : Algorithm.SLIDING_WINDOW_COUNTER;
            limits.add(Limit.of(dimension, capacity, period, a));
        }
    }

    private void addDaily(List<Limit> limits, String dimension, long capacity) {
        if (capacity <= 0) {
            return;
        }
        if (dailyReset.isUtcMidnight() && dayWindow.equals(Duration.ofDays(1))) {
            limits.add(Limit.of(dimension, capacity, dayWindow, Algorithm.FIXED_WINDOW));
        } else {
            add(limits, dimension, capacity, dayWindow.plus(guard));
        }
    }

    @Override
    public String toString() {
        return provider + "/" + model + "{requests=" + requests + ", tokens=" + tokens + " per " + window
                + (requestsPerDay > 0 ? ", requestsPerDay=" + requestsPerDay : "")
                + (tokensPerDay > 0 ? ", tokensPerDay=" + tokensPerDay : "")
                + (concurrent > 0 ? ", concurrent=" + concurrent : "") + "}";
    }
}

package dev.sluice.cache;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sluice.cache.internal.Canonical;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * What the cache may keep and for how long.
 *
 * <p><b>Which requests</b>: by default only deterministic ones, that is with {@code temperature} 0 or with a
 * {@code seed}, or those whose caller {@linkplain CallOptions#optIn() opts in}; {@link Builder#cacheAll()} lifts the
 * rule. A caller can always {@linkplain CallOptions#bypass() bypass} or {@linkplain CallOptions#refresh() refresh}.
 *
 * <p><b>For how long</b>: a time to live per model, else per route, else the default (one hour); a zero time to live
 * turns caching off for that model or route.
 *
 * <p><b>Which answers</b> ({@link #verdict}): only complete successes. Never errors (any status but 200, or a body
 * with an {@code error} field), never 429s, never truncated answers (a choice with {@code finish_reason} {@code length},
 * or {@code stop_reason} {@code max_tokens}), never partial ones (a choice without a finish reason or with another one
 * than {@code stop}, {@code tool_calls}, {@code function_call}, {@code end_turn}, {@code tool_use} or {@code stop_sequence}; a
 * {@code status} other than {@code completed}; a body that is not one JSON object, such as a stream), and nothing
 * larger than {@link Builder#maxValueBytes}.
 */
public final class CachePolicy {

    /** Why an answer is or is not stored. */
    public enum Verdict {
        /** A complete success: stored. */
        STORE,
        /** A 429: never stored. */
        RATE_LIMITED,
        /** Another status than 200, or an {@code error} in the body. */
        ERROR,
        /** Cut short by the token limit. */
        TRUNCATED,
        /** Not complete: no or another finish reason, an incomplete status, not one JSON object. */
        PARTIAL,
        /** Larger than the policy's bound. */
        TOO_LARGE
    }

    private static final Set<String> COMPLETE = Set.of("stop", "tool_calls", "function_call", "end_turn", "tool_use",
            "stop_sequence");

    private final boolean deterministicOnly;
    private final Duration defaultTtl;
    private final Map<String, Duration> byModel;
    private final Map<String, Duration> byRoute;
    private final int maxValueBytes;

    private CachePolicy(Builder b) {
        this.deterministicOnly = b.deterministicOnly;
        this.defaultTtl = b.defaultTtl;
        this.byModel = Map.copyOf(b.byModel);
        this.byRoute = Map.copyOf(b.byRoute);
        this.maxValueBytes = b.maxValueBytes;
    }

    /** Deterministic requests only, one hour, answers up to 4 MB. */
    public static CachePolicy standard() {
        return builder().build();
    }

    /** A builder with the {@linkplain #standard() standard} settings. */
    public static Builder builder() {
        return new Builder();
    }

    /** Whether the policy lets {@code request} be cached, before the caller's options. */
    public boolean admits(CacheRequest request) {
        return !deterministicOnly || request.options().optIn() || deterministic(request.body());
    }

    /** Whether the body asks for a reproducible answer: {@code temperature} exactly 0, or a {@code seed}. */
    public static boolean deterministic(JsonNode body) {
        JsonNode t = body.get("temperature");
        if (t != null && t.isNumber() && t.decimalValue().signum() == 0) {
            return true;
        }
        JsonNode seed = body.get("seed");
        return seed != null && !seed.isNull();
    }

    /** The time to live of {@code request}'s answer: per model, else per route, else the default; zero means none. */
    public Duration ttl(CacheRequest request) {
        Duration d = byModel.get(request.model());
        if (d == null) {
            d = byRoute.get(request.route());
        }
        return d == null ? defaultTtl : d;
    }

    /** Whether {@code response} may be stored, and if not, why. */
    public Verdict verdict(LlmResponse response) {
        if (response.status() == 429) {
            return Verdict.RATE_LIMITED;
        }
        if (response.status() != 200) {
            return Verdict.ERROR;
        }
        if (response.body().length > maxValueBytes) {
            return Verdict.TOO_LARGE;
        }
        JsonNode body;
        try {
            body = Canonical.parseObject(response.body());
        } catch (IllegalArgumentException e) {
            return Verdict.PARTIAL;
        }
        if (body.hasNonNull("error")) {
            return Verdict.ERROR;
        }
        JsonNode status = body.get("status");
        if (status != null && status.isTextual() && !status.textValue().equals("completed")) {
            return Verdict.PARTIAL;
        }
        JsonNode stopReason = body.get("stop_reason");
        if (stopReason != null && stopReason.isTextual()) {
            String r = stopReason.textValue();
            if (r.equals("max_tokens")) {
                return Verdict.TRUNCATED;
            }
            if (!COMPLETE.contains(r)) {
                return Verdict.PARTIAL;
            }
        }
        JsonNode choices = body.get("choices");
        if (choices != null) {
            if (!choices.isArray() || choices.isEmpty()) {
                return Verdict.PARTIAL;
            }
            for (JsonNode choice : choices) {
                JsonNode reason = choice.get("finish_reason");
                if (reason == null || !reason.isTextual()) {
                    return Verdict.PARTIAL;
                }
                if (reason.textValue().equals("length")) {
                    return Verdict.TRUNCATED;
                }
                if (!COMPLETE.contains(reason.textValue())) {
                    return Verdict.PARTIAL;
                }
            }
        }
        return Verdict.STORE;
    }

    /** Builds a {@link CachePolicy}. */
    public static final class Builder {
        private boolean deterministicOnly = true;
        private Duration defaultTtl = Duration.ofHours(1);
        private final Map<String, Duration> byModel = new HashMap<>();
        private final Map<String, Duration> byRoute = new HashMap<>();
        private int maxValueBytes = 4 << 20;

        private Builder() {
        }

        /** Cache every request, deterministic or not (callers can still bypass). */
        public Builder cacheAll() {
            this.deterministicOnly = false;
            return this;
        }

        /** The time to live when no model or route rule applies (default one hour); zero turns caching off. */
        public Builder defaultTtl(Duration ttl) {
            this.defaultTtl = check(ttl);
            return this;
        }

        /** The time to live of answers from {@code model}; zero turns caching off for it. */
        public Builder ttlForModel(String model, Duration ttl) {
            byModel.put(Objects.requireNonNull(model, "model"), check(ttl));
            return this;
        }

        /** The time to live of answers on {@code route} (for example {@code /embeddings}); zero turns it off. */
        public Builder ttlForRoute(String route, Duration ttl) {
            Objects.requireNonNull(route, "route");
            byRoute.put(route.startsWith("/") ? route : "/" + route, check(ttl));
            return this;
        }

        /**
         * The largest answer body stored (default 4 MB).
         *
         * @throws IllegalArgumentException unless positive
         */
        public Builder maxValueBytes(int bytes) {
            if (bytes <= 0) {
                throw new IllegalArgumentException("maxValueBytes must be positive, was " + bytes);
            }
            this.maxValueBytes = bytes;
            return this;
        }

        private static Duration check(Duration ttl) {
            Objects.requireNonNull(ttl, "ttl");
            if (ttl.isNegative()) {
                throw new IllegalArgumentException("ttl must not be negative, was " + ttl);
            }
            return ttl;
        }

        /** The policy. */
        public CachePolicy build() {
            return new CachePolicy(this);
        }
    }
}

package dev.sluice.gateway.internal;

import dev.sluice.governor.ProviderSignal;
import dev.sluice.governor.ProviderSignals;
import dev.sluice.governor.SharedCooldowns;
import io.vertx.core.MultiMap;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The gateway's adapter to the {@code governor} module: what an upstream 429 says, read by the governor's
 * {@link ProviderSignals} ({@code retry-after-ms}, {@code retry-after} in seconds or as a date, OpenAI's and Groq's
 * {@code x-ratelimit-reset-*}, Anthropic's reset times, Gemini's {@code retryDelay} in the body, "try again in" in
 * OpenAI's message), the cooldown the governor derives from it ({@link SharedCooldowns#waitOf}), and whether a retry
 * can ever help (not for a daily limit or an exhausted quota).
 */
public final class UpstreamSignals {

    private UpstreamSignals() {
    }

    /**
     * What to do after a 429.
     *
     * @param cooldown how long the key cools down
     * @param retryable whether retrying after the wait can succeed
     * @param kind what the 429 was about, lower case: requests, tokens, daily, concurrency, quota, unknown
     */
    public record Verdict(Duration cooldown, boolean retryable, String kind) {
    }

    /** Reads a 429's headers and body; {@code dflt} when it names no wait. */
    public static Verdict of429(MultiMap headers, @Nullable String body, Duration dflt) {
        Map<String, List<String>> h = new HashMap<>();
        for (Map.Entry<String, String> e : headers) {
            h.computeIfAbsent(e.getKey().toLowerCase(Locale.ROOT), k -> new ArrayList<>()).add(e.getValue());
        }
        ProviderSignal s = ProviderSignals.read(429, h, body, Instant.now());
        return new Verdict(SharedCooldowns.waitOf(s, dflt), s.retryable(), s.kind().name().toLowerCase(Locale.ROOT));
    }
}

package dev.sluice.governor;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The provider's answer to one attempt, as the upstream hands it to the governor: status, headers (for the rate-limit
 * headers) and the body or the usage. Immutable.
 *
 * @param status the HTTP status
 * @param headers the headers, names in any case
 * @param body the body (JSON, or the whole SSE stream), or null if the upstream does not keep it
 * @param usage the usage, or null to read it from the body
 */
public record UpstreamResponse(int status, Map<String, List<String>> headers, @Nullable String body,
        @Nullable Usage usage) {

    /** Copies the headers. */
    public UpstreamResponse {
        headers = Map.copyOf(Objects.requireNonNull(headers, "headers"));
    }

    /** An answer whose usage is read from its body. */
    public static UpstreamResponse of(int status, Map<String, List<String>> headers, @Nullable String body) {
        return new UpstreamResponse(status, headers, body, null);
    }

    /** The usage given, or read from the body; null if neither says. */
    public @Nullable Usage reportedUsage() {
        return usage != null ? usage : Usage.fromBody(body);
    }

    /** Whether the status is 2xx. */
    public boolean successful() {
        return status >= 200 && status < 300;
    }
}

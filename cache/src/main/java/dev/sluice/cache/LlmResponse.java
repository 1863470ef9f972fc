package dev.sluice.cache;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * What an upstream call answered, as the cache stores and returns it: the HTTP status, the content type and the body.
 * Headers are deliberately absent: rate-limit and request-id headers describe one call, not the answer, and no
 * credential can reach the cache through them. Treat the body array as read-only.
 *
 * @param status the HTTP status, for example 200 or 429
 * @param contentType the media type, for example {@code application/json}
 * @param body the body bytes
 */
public record LlmResponse(int status, String contentType, byte[] body) {

    /** The media type of JSON answers. */
    public static final String JSON = "application/json";

    /** Checks the parts. */
    public LlmResponse {
        Objects.requireNonNull(contentType, "contentType");
        Objects.requireNonNull(body, "body");
    }

    /** A JSON answer with {@code status} and {@code body} (UTF-8). */
    public static LlmResponse json(int status, String body) {
        return new LlmResponse(status, JSON, body.getBytes(StandardCharsets.UTF_8));
    }

    /** The body as UTF-8 text. */
    public String bodyText() {
        return new String(body, StandardCharsets.UTF_8);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LlmResponse r && r.status == status && r.contentType.equals(contentType)
                && java.util.Arrays.equals(r.body, body);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * status + contentType.hashCode()) + java.util.Arrays.hashCode(body);
    }

    @Override
    public String toString() {
        return "LlmResponse[" + status + ", " + contentType + ", " + body.length + " bytes]";
    }
}

package dev.sluice.gateway.internal;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import org.jspecify.annotations.Nullable;

/**
 * Errors in OpenAI's format, {@code {"error":{"message","type","param","code"}}}, so clients parse them as they would
 * the provider's. Messages are written here, never taken from an exception, so no stack trace or secret leaks.
 */
public final class Errors {

    private static final ObjectMapper JSON = new ObjectMapper();

    private Errors() {
    }

    /** The error body. */
    public static Buffer body(String message, String type, @Nullable String param, @Nullable String code) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode e = root.putObject("error");
        e.put("message", message);
        e.put("type", type);
        if (param == null) {
            e.putNull("param");
        } else {
            e.put("param", param);
        }
        if (code == null) {
            e.putNull("code");
        } else {
            e.put("code", code);
        }
        return Buffer.buffer(root.toString());
    }

    /** Ends {@code response} with {@code status} and the error, unless it has already started. */
    public static void send(HttpServerResponse response, int status, String message, String type,
            @Nullable String param, @Nullable String code) {
        if (response.headWritten() || response.ended() || response.closed()) {
            return;
        }
        response.setStatusCode(status).putHeader("content-type", "application/json")
                .end(body(message, type, param, code));
    }
}

package dev.sluice.gateway.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.buffer.Buffer;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class StoredResponseIdTest {

    private static final Buffer NONE = Buffer.buffer();

    @Test
    @DisplayName("A pass-through call is about the stored response its path names, below it too; OpenAI's calls on "
            + "no stored response (input_tokens, compact) are about their body's previous_response_id, if the body "
            + "is one well-formed JSON object naming a non-empty one")
    void storedResponseId() {
        assertThat(ProxyHandler.storedResponseId("/v1/responses/resp_1", NONE))
                .isEqualTo(new ProxyHandler.StoredId("resp_1", false));
        assertThat(ProxyHandler.storedResponseId("/v1/responses/resp_1/input_items", NONE))
                .isEqualTo(new ProxyHandler.StoredId("resp_1", false));
        assertThat(ProxyHandler.storedResponseId("/v1/responses/resp_1/cancel", NONE))
                .isEqualTo(new ProxyHandler.StoredId("resp_1", false));
        assertThat(ProxyHandler.storedResponseId("/v1/responses/", NONE)).isNull();
        assertThat(ProxyHandler.storedResponseId("/v1/files/file_1", NONE)).isNull();
        Buffer chained = Buffer.buffer("{\"model\":\"m\",\"previous_response_id\":\"resp_2\",\"input\":\"x\"}");
        assertThat(ProxyHandler.storedResponseId("/v1/responses/input_tokens", chained))
                .isEqualTo(new ProxyHandler.StoredId("resp_2", true));
        assertThat(ProxyHandler.storedResponseId("/v1/responses/compact", chained))
                .isEqualTo(new ProxyHandler.StoredId("resp_2", true));
        // an id that looks like the path's own word is still the body's
        assertThat(ProxyHandler.storedResponseId("/v1/responses/input_tokens",
                Buffer.buffer("{\"previous_response_id\":\"input_tokens\"}")))
                .isEqualTo(new ProxyHandler.StoredId("input_tokens", true));
        assertThat(ProxyHandler.storedResponseId("/v1/responses/input_tokens", NONE)).isNull();
        assertThat(ProxyHandler.storedResponseId("/v1/responses/input_tokens",
                Buffer.buffer("{\"previous_response_id\":\"\"}"))).isNull();
        assertThat(ProxyHandler.storedResponseId("/v1/responses/input_tokens",
                Buffer.buffer("{\"previous_response_id\":\"resp_3\"} {}"))).isNull();
    }

    @Test
    @DisplayName("Only one well-formed JSON object is a JSON object body: not trailing text, not an array, not a "
            + "byte-order mark, not form data")
    void jsonObject() {
        assertThat(ProxyHandler.jsonObject(Buffer.buffer("{\"a\":[1,{\"b\":2}]}"))).isTrue();
        assertThat(ProxyHandler.jsonObject(Buffer.buffer(" {} \n"))).isTrue();
        for (String body : List.of("", "{\"a\":1} x", "{\"a\":1}{}", "[1]", "\uFEFF{\"a\":1}", "a=1&b=2", "{\"a\":")) {
            assertThat(ProxyHandler.jsonObject(Buffer.buffer(body))).as(body).isFalse();
        }
    }

    @Test
    @DisplayName("A path names its resource one way only: empty, '.' and '..' segments, a trailing slash, "
            + "backslashes and percent-encoded '.', '/' and '\\' are refused")
    void plainPath() {
        for (String path : List.of("/v1/responses/resp_1", "/v1/responses/resp_1/input_items", "/v1/models",
                "/v1/files/file-abc.jsonl", "/v1/x%20y")) {
            assertThat(ProxyHandler.plainPath(path)).as(path).isTrue();
        }
        for (String path : List.of("/v1//responses/resp_1", "/v1/responses//resp_1", "/v1/responses/",
                "/v1/chat/completions/", "/v1/responses/resp_1/../resp_2", "/v1/./responses", "/v1/..",
                "/v1/responses/resp_1%2F..%2Fresp_2", "/v1/responses/%2e%2e/x", "/v1/responses/a\\b",
                "/v1/responses/a%5Cb", "/v1/")) {
            assertThat(ProxyHandler.plainPath(path)).as(path).isFalse();
        }
    }
}

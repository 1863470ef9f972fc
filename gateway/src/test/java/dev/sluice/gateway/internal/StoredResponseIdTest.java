package dev.sluice.gateway.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.buffer.Buffer;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class StoredResponseIdTest {

    private static final Buffer NONE = Buffer.buffer();

    @Test
    @DisplayName("A pass-through call is about the stored response its path names, below it too; OpenAI's calls on "
            + "no stored response (input_tokens, compact) are about their body's previous_response_id")
    void storedResponseId() {
        assertThat(ProxyHandler.storedResponseId("/v1/responses/resp_1", NONE)).isEqualTo("resp_1");
        assertThat(ProxyHandler.storedResponseId("/v1/responses/resp_1/input_items", NONE)).isEqualTo("resp_1");
        assertThat(ProxyHandler.storedResponseId("/v1/responses/resp_1/cancel", NONE)).isEqualTo("resp_1");
        assertThat(ProxyHandler.storedResponseId("/v1/responses/", NONE)).isNull();
        assertThat(ProxyHandler.storedResponseId("/v1/files/file_1", NONE)).isNull();
        Buffer chained = Buffer.buffer("{\"model\":\"m\",\"previous_response_id\":\"resp_2\",\"input\":\"x\"}");
        assertThat(ProxyHandler.storedResponseId("/v1/responses/input_tokens", chained)).isEqualTo("resp_2");
        assertThat(ProxyHandler.storedResponseId("/v1/responses/compact", chained)).isEqualTo("resp_2");
        assertThat(ProxyHandler.storedResponseId("/v1/responses/input_tokens", NONE)).isNull();
    }
}

package dev.sluice.gateway.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.buffer.Buffer;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class UsageTest {

    private static long usage(String json) {
        return ProxyHandler.usage(Buffer.buffer(json));
    }

    @Test
    @DisplayName("A whole answer is settled on its top-level usage: total_tokens, else prompt + completion tokens")
    void topLevelUsage() {
        assertThat(usage("{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"hi\"}}],"
                + "\"usage\":{\"prompt_tokens\":14,\"completion_tokens\":4,\"total_tokens\":18}}")).isEqualTo(18);
        assertThat(usage("{\"usage\":{\"prompt_tokens\":14,\"completion_tokens\":4}}")).isEqualTo(18);
        assertThat(usage("{\"usage\":{\"prompt_tokens\":9}}")).isEqualTo(9);
        assertThat(usage("{\"choices\":[{\"usage\":{\"total_tokens\":99}}],\"usage\":{\"total_tokens\":7}}"))
                .as("a usage nested elsewhere is not the answer's").isEqualTo(7);
    }

    @Test
    @DisplayName("An answer without a usable usage reads as unknown (-1), never as a failure")
    void noUsage() {
        assertThat(usage("{\"choices\":[{\"usage\":{\"total_tokens\":99}}]}")).isEqualTo(-1);
        assertThat(usage("{\"usage\":null}")).isEqualTo(-1);
        assertThat(usage("{\"usage\":{}}")).isEqualTo(-1);
        assertThat(usage("[1,2]")).isEqualTo(-1);
        assertThat(usage("not json")).isEqualTo(-1);
        assertThat(usage("{\"usage\":{\"total_tokens\":")).isEqualTo(-1);
        assertThat(usage("")).isEqualTo(-1);
    }
}

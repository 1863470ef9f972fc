package dev.sluice.gateway.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.vertx.core.buffer.Buffer;
import java.util.Random;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class UsageTest {

    private static long usage(String json) {
        return ProxyHandler.usage(Buffer.buffer(json));
    }

    @Test
    @DisplayName("A whole answer is settled on its top-level usage: total_tokens, else prompt + completion tokens, "
            + "else input + output tokens")
    void topLevelUsage() {
        assertThat(usage("{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"hi\"}}],"
                + "\"usage\":{\"prompt_tokens\":14,\"completion_tokens\":4,\"total_tokens\":18}}")).isEqualTo(18);
        assertThat(usage("{\"usage\":{\"prompt_tokens\":14,\"completion_tokens\":4}}")).isEqualTo(18);
        assertThat(usage("{\"usage\":{\"prompt_tokens\":9}}")).isEqualTo(9);
        assertThat(usage("{\"object\":\"response\",\"usage\":{\"input_tokens\":14,\"input_tokens_details\":"
                + "{\"cached_tokens\":0},\"output_tokens\":4,\"output_tokens_details\":{\"reasoning_tokens\":2}}}"))
                .as("the Responses API's names").isEqualTo(18);
        assertThat(usage("{\"choices\":[{\"usage\":{\"total_tokens\":99}}],\"usage\":{\"total_tokens\":7}}"))
                .as("a usage nested elsewhere is not the answer's").isEqualTo(7);
    }

    @Test
    @DisplayName("The streaming read of a whole answer's usage agrees with the tree read of streamed chunks on 3,000 "
            + "seeded random usage objects (values of every JSON type, duplicates, nested details)")
    void streamingMatchesTree() throws Exception {
        String[] fields = {"total_tokens", "prompt_tokens", "completion_tokens", "prompt_tokens_details", "other",
            "input_tokens", "output_tokens"};
        String[] values = {"0", "7", "-3", "123456789012", "null", "\"12\"", "\"x\"", "3.7", "true", "false",
            "{\"cached_tokens\":5,\"total_tokens\":1}", "[1,2]", "{}", "1e3"};
        ObjectMapper json = new ObjectMapper();
        long seed = 20261203L;
        Random random = new Random(seed);
        for (int i = 0; i < 3_000; i++) {
            StringBuilder u = new StringBuilder("{");
            int n = random.nextInt(5);
            for (int f = 0; f < n; f++) {
                u.append(f == 0 ? "" : ",").append('"').append(fields[random.nextInt(fields.length)]).append("\":")
                        .append(values[random.nextInt(values.length)]);
            }
            String usage = u.append('}').toString();
            String answer = "{\"id\":\"c\",\"choices\":[],\"usage\":" + usage + ",\"model\":\"m\"}";
            assertThat(usage(answer)).as("seed %d, case %d: %s", seed, i, usage)
                    .isEqualTo(ProxyHandler.usageOf(json.readTree(usage)));
        }
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

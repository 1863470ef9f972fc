package dev.sluice.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Algorithm;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class GatewayConfigParserTest {

    static final String MINIMAL = """
            providers:
              openai:
                baseUrl: https://api.openai.com/v1
                keys: [{env: OPENAI_API_KEY}]
                limits: {requestsPerMinute: 500, tokensPerMinute: 200000}
            models:
              gpt-4o-mini: {}
            """;

    final GatewayConfigParser parser = GatewayConfigParser.withEnv(Map.of("OPENAI_API_KEY", "sk-secret-value")::get);

    @Test
    @DisplayName("A minimal file gets the documented defaults")
    void defaults() {
        GatewayConfig c = parser.parse(MINIMAL);
        assertThat(c.server().port()).isEqualTo(8080);
        assertThat(c.server().host()).isEqualTo("127.0.0.1");
        assertThat(c.server().maxBodyBytes()).isEqualTo(1 << 20);
        assertThat(c.server().bodyTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(c.server().idleTimeout()).isEqualTo(Duration.ofSeconds(75));
        assertThat(parser.parse(MINIMAL + "server: {idleTimeout: 0}\n").server().idleTimeout()).isZero();
        assertThat(c.providers().get("openai").chargesMaxTokens()).isFalse();
        assertThat(parser.parse(MINIMAL.replace("limits: {", "chargesMaxTokens: true\n    limits: {")).providers()
                .get("openai").chargesMaxTokens()).isTrue();
        assertThat(c.backend().type()).isEqualTo(GatewayConfig.BackendType.MEMORY);
        assertThat(c.queue().maxWait()).isEqualTo(Duration.ofSeconds(30));
        assertThat(c.upstream().timeout()).isEqualTo(Duration.ofSeconds(120));
        assertThat(c.upstream().backoffBase()).isEqualTo(Duration.ofMillis(250));
        assertThat(c.upstream().backoffCap()).isEqualTo(Duration.ofSeconds(5));
        assertThat(c.upstream().responseAffinity()).isEqualTo(Duration.ofDays(1));
        assertThat(parser.parse(MINIMAL + "upstream: {responseAffinity: 0}\n").upstream().responseAffinity()).isZero();
        assertThat(c.upstream().responseIsolation()).isFalse();
        assertThat(parser.parse(MINIMAL + "upstream: {responseIsolation: true}\n").upstream().responseIsolation())
                .isTrue();
        assertThat(parser.parse(MINIMAL + "upstream: {backoffBase: 0, backoffCap: 0}\n").upstream().backoffCap())
                .isZero();
        assertThat(c.cache().enabled()).isTrue();
        assertThat(c.openMode()).isTrue();
        GatewayConfig.Model m = c.models().get("gpt-4o-mini");
        assertThat(m.provider()).isEqualTo("openai");
        assertThat(m.maxOutputTokens()).isEqualTo(1024);
        assertThat(m.imageTokens()).isEqualTo(1445);
        assertThat(parser.parse(MINIMAL.replace("gpt-4o-mini: {}", "gpt-4o-mini: {imageTokens: 85}")).models()
                .get("gpt-4o-mini").imageTokens()).isEqualTo(85);
        assertThat(c.providers().get("openai").keys().get(0).secret()).isEqualTo("sk-secret-value");
        assertThat(c.providers().get("openai").limits().entries()).extracting(GatewayConfig.LimitSpec.Entry::algorithm)
                .containsExactly(Algorithm.SLIDING_LOG, Algorithm.SLIDING_WINDOW_COUNTER);
        assertThat(c.toString()).doesNotContain("sk-secret-value");
        assertThat(c.passthrough().provider()).isNull();
        assertThat(c.passthroughProvider()).isEqualTo("openai");
    }

    static final String TWO_PROVIDERS = """
            providers:
              openai:
                baseUrl: https://api.openai.com/v1
                keys: [{env: OPENAI_API_KEY}]
                limits: {requestsPerMinute: 500}
              other:
                baseUrl: http://127.0.0.1:9/v1
                keys: [{value: sk-other}]
                limits: {requestsPerMinute: 5}
            models:
              gpt-4o-mini: {provider: openai}
            """;

    @Test
    @DisplayName("passthrough.provider picks the default pass-through provider (else the first); one that names no "
            + "provider is an error naming the field")
    void passthrough() {
        assertThat(parser.parse(TWO_PROVIDERS).passthroughProvider()).isEqualTo("openai");
        GatewayConfig c = parser.parse(TWO_PROVIDERS + "passthrough: {provider: other}\n");
        assertThat(c.passthrough().provider()).isEqualTo("other");
        assertThat(c.passthroughProvider()).isEqualTo("other");
        assertError(TWO_PROVIDERS + "passthrough: {provider: azure}\n",
                "passthrough.provider: no provider named 'azure'");
        assertError(TWO_PROVIDERS + "passthrough: {providr: other}\n", "passthrough.providr: unknown field");
        assertError(TWO_PROVIDERS + "passthrough: other\n", "passthrough: a mapping is expected");
    }

    @Test
    @DisplayName("Errors name the field at fault and never show a secret")
    void errorsNameTheField() {
        assertError(MINIMAL.replace("limits:", "limitz:"), "providers.openai.limitz: unknown field");
        assertError(MINIMAL.replace("OPENAI_API_KEY", "NOT_SET"), "providers.openai.keys[0].env");
        assertError(MINIMAL + "queue: {maxWait: soon}\n", "queue.maxWait");
        assertError(MINIMAL + "backend: {type: mongo}\n", "backend.type");
        assertError(MINIMAL.replace("gpt-4o-mini: {}", "gpt-4o-mini: {provider: azure}"),
                "models.gpt-4o-mini.provider");
        assertError(MINIMAL.replace("requestsPerMinute: 500", "requestsPerMinute: -5"),
                "providers.openai.limits.requestsPerMinute");
        assertError(MINIMAL + "tenants:\n  a: {keys: [{sha256: xyz}]}\n", "tenants.a.keys[0].sha256");
        assertError(MINIMAL.replace("limits: {", "chargesMaxTokens: yes-please\n    limits: {"),
                "providers.openai.chargesMaxTokens: true or false expected");
        assertError(MINIMAL + "upstream: {backoffBase: 2s, backoffCap: 1s}\n",
                "upstream.backoffCap: must be at least backoffBase (2s), was '1s'");
        assertError(MINIMAL + "upstream: {backoffBase: 10s}\n", "upstream.backoffCap: must be at least backoffBase");
        assertError(MINIMAL + "upstream: {backoffBase: -1s}\n", "upstream.backoffBase");
        assertError(MINIMAL + "upstream: {backoffCap: 2h}\n", "upstream.backoffCap: must be at most 1h");
        assertError(MINIMAL + "upstream: {backofBase: 1s}\n", "upstream.backofBase: unknown field");
        assertError(MINIMAL + "upstream: {responseAffinity: -1h}\n", "upstream.responseAffinity: a duration");
        assertError(MINIMAL + "upstream: {responseAffinity: 0, responseIsolation: true}\n",
                "upstream.responseIsolation: needs responseAffinity above zero");
        assertError(MINIMAL + "upstream: {responseAffinity: PT-1H}\n", "upstream.responseAffinity: must be zero or "
                + "positive");
        assertError(MINIMAL.replace("gpt-4o-mini: {}", "gpt-4o-mini: {imageTokens: -1}"),
                "models.gpt-4o-mini.imageTokens");
        // beyond a long: refused, never truncated to its low 64 bits (2^64 would read as 0, 2^64 + 85 as 85)
        assertError(MINIMAL.replace("gpt-4o-mini: {}", "gpt-4o-mini: {imageTokens: 18446744073709551701}"),
                "models.gpt-4o-mini.imageTokens: must be between 0 and 10000000, was '18446744073709551701'");
        assertError(MINIMAL.replace("gpt-4o-mini: {}", "gpt-4o-mini: {imageTokens: '18446744073709551701'}"),
                "models.gpt-4o-mini.imageTokens: must be between 0 and 10000000, was '18446744073709551701'");
        assertError(MINIMAL.replace("gpt-4o-mini: {}", "gpt-4o-mini: {imageTokens: '_'}"),
                "models.gpt-4o-mini.imageTokens: must be between");
        assertError("models: {}", "providers");
        assertError("[not, a, mapping", "not valid YAML");
    }

    @Test
    @DisplayName("A YAML syntax error is reported by line and column only, never with the text of the line, which "
            + "may be a literal secret")
    void syntaxErrorHidesTheLine() {
        String[] broken = {
            MINIMAL + "tenants:\n  a: {keys: [{value: \"sk-literal-9f8e7d6c5b4a}]}\n",
            MINIMAL + "tenants:\n  a:\n    keys: [{value: sk-literal-9f8e7d6c5b4a}]\n   x: sk-literal-9f8e7d6c5b4a\n",
            MINIMAL + "tenants:\n  a: {keys: [{value: sk-literal-9f8e7d6c5b4a\t: }]\n",
        };
        for (String yaml : broken) {
            assertThatThrownBy(() -> parser.parse(yaml)).isInstanceOf(GatewayConfigException.class)
                    .hasMessageContaining("not valid YAML").hasMessageContaining("line ")
                    .satisfies(e -> assertThat(e.getMessage()).doesNotContain("sk-literal").doesNotContain("9f8e"));
        }
    }

    private void assertError(String yaml, String expected) {
        assertThatThrownBy(() -> parser.parse(yaml)).isInstanceOf(GatewayConfigException.class)
                .hasMessageContaining(expected).satisfies(e -> assertThat(e.getMessage())
                        .doesNotContain("sk-secret-value"));
    }
}

package dev.sluice.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testkit.simulator.ProviderSimulator;
import dev.sluice.testkit.simulator.SimulatorLimits;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class ChargesMaxTokensTest {

    @Test
    @DisplayName("Against a provider that counts max_tokens in full, a provider marked chargesMaxTokens keeps an"
            + " answered call's unused output charged on its key and never meets a 429; unmarked, the key gets it back"
            + " and the provider refuses calls")
    void providerThatCountsMaxTokens() throws Exception {
        // Each call: a prompt of a few dozen tokens, max_tokens 400, an answer of 16-32 tokens. The provider counts
        // about 430 a call against 4,000 tokens per 2 s; given back the unused output, the key would think a call
        // costs about 60. The gateway's windows are longer (3 s: a call may reach the provider late on a slow
        // machine) and its limit a little lower than the provider's, as a deployment sets them.
        for (boolean says : new boolean[] {false, true}) {
            try (ProviderSimulator sim = ProviderSimulator.builder().chargesMaxTokens(true).completionTokens(16, 32)
                    .limits(SimulatorLimits.perMinute(1000, 4000).withWindow(Duration.ofSeconds(2))).start();
                    Gateway g = Gateway.start(GatewayConfigParser.create().parse("""
                            server: {port: 0, reloadInterval: 0}
                            queue: {maxWait: 30s}
                            upstream: {timeout: 30s}
                            providers:
                              strict:
                                baseUrl: "%s"
                                keys: [{value: sk-strict}]
                                chargesMaxTokens: %s
                                limits: {custom: [
                                  {dimension: requests, capacity: 1000, period: 3s, algorithm: sliding_log},
                                  {dimension: tokens, capacity: 3900, period: 3s, algorithm: sliding_log}]}
                            models:
                              gpt-4o-mini: {provider: strict}
                            tenants:
                              t: {keys: [{value: sk-t}]}
                            """.formatted(sim.baseUrl(), says)))) {
                for (int i = 0; i < 14; i++) {
                    HttpResponse<String> r = ReloadWhileWaitingTest.chat(g, "sk-t", "gpt-4o-mini",
                            ",\"max_tokens\":400").get();
                    if (says) {
                        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                    }
                }
                long refused = sim.stats().rejected429();
                if (says) {
                    assertThat(refused).as("429s with chargesMaxTokens: true").isZero();
                } else {
                    assertThat(refused).as("429s with chargesMaxTokens: false").isPositive();
                }
            }
        }
    }
}

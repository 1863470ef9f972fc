package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.core.FailurePolicy;
import dev.sluice.core.OutageDecisions;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The failure policies every shared backend applies while its server cannot answer, on an in-memory fallback. */
class OutageDecisionsTest {

    private final Limit requests = Limit.perMinute("requests", 100);
    private final Limit tokens = Limit.perMinute("tokens", 10_000);
    private final Policy policy = Policy.of(requests, tokens);
    private final Cost call = Cost.request().and("tokens", 400);

    @Test
    @DisplayName("FAIL_CLOSED denies with BACKEND_UNAVAILABLE and its suggested wait; a refund changes nothing")
    void failClosed() {
        OutageDecisions o = OutageDecisions.failClosed(250_000);
        Decision d = o.acquire("k", policy, call);
        assertThat(d.granted()).isFalse();
        assertThat(d.reason()).isEqualTo(Decision.Reason.BACKEND_UNAVAILABLE);
        assertThat(d.retryAfterMicros()).isEqualTo(250_000);
        assertThat(d.hasRemaining()).isFalse();
        assertThat(o.refund("k", policy, call).reason()).isEqualTo(Decision.Reason.REFUNDED);
        assertThat(o.policy()).isEqualTo(FailurePolicy.FAIL_CLOSED);
    }

    @Test
    @DisplayName("FAIL_OPEN grants every call")
    void failOpen() {
        OutageDecisions o = OutageDecisions.failOpen();
        for (int i = 0; i < 1000; i++) {
            assertThat(o.acquire("k", policy, call).granted()).isTrue();
        }
    }

    @Test
    @DisplayName("LOCAL_FALLBACK limits each instance to its share of every limit, reported against the real policy")
    void localFallback() {
        ManualTicker ticker = new ManualTicker();
        OutageDecisions o = OutageDecisions.localFallback(MemoryBackend.builder().ticker(ticker).build(), 0.1);
        int granted = 0;
        Decision last = null;
        for (int i = 0; i < 20; i++) {
            last = o.acquire("k", policy, call);
            granted += last.granted() ? 1 : 0;
        }
        assertThat(granted).as("10% of 10,000 tokens is 1,000: two calls of 400").isEqualTo(2);
        assertThat(last.reason()).isEqualTo(Decision.Reason.RATE_LIMITED);
        assertThat(last.policy()).isEqualTo(policy);
        assertThat(last.boundBy()).isEqualTo(tokens);
        assertThat(o.refund("k", policy, Cost.tokens(400)).remaining(tokens)).isEqualTo(600);
        Decision big = o.acquire("other", policy, Cost.request().and("tokens", 5_000));
        assertThat(big.granted()).as("a cost above the share is clipped to it, not refused forever").isTrue();
    }

    @Test
    @DisplayName("Bad arguments are refused")
    void badArguments() {
        assertThatThrownBy(() -> OutageDecisions.failClosed(-1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("-1");
        assertThatThrownBy(() -> OutageDecisions.localFallback(MemoryBackend.create(), 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0");
        assertThatThrownBy(() -> OutageDecisions.localFallback(MemoryBackend.create(), 1.5))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1.5");
    }
}

package dev.sluice.gateway.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Cost;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.gateway.GatewayConfigParser;
import dev.sluice.governor.SharedCooldowns;
import dev.sluice.memory.MemoryBackend;
import java.time.Duration;
import java.util.Objects;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** Admission and settlement on a real in-memory limiter. */
class AdmissionTest {

    @Test
    @DisplayName("A call admitted with no tokens reserved is still charged the tokens it reports using")
    void chargesUsageWithoutReservation() throws Exception {
        Routes routes = new Routes(GatewayConfigParser.create().parse("""
                providers:
                  p:
                    baseUrl: http://127.0.0.1:9/v1
                    keys: [{id: k, value: sk-p}]
                    limits: {requestsPerMinute: 100, tokensPerMinute: 1000}
                models:
                  m: {}
                """));
        SluiceLimiter limiter = SluiceLimiter.builder(MemoryBackend.create()).policies(routes::policy).build();
        Admission admission = new Admission(limiter, Runnable::run, new SharedCooldowns(null));
        Routes.ModelRoute m = Objects.requireNonNull(routes.model("m"));
        Admission.Ticket t = Objects.requireNonNull(admission.admit(Objects.requireNonNull(routes.authenticate(null)),
                m, 0, Duration.ofSeconds(1), 10).get().ticket());

        admission.settle(t, 600, true);

        String key = m.keys().get(0).limiterKey();
        assertThat(limiter.tryAcquire(key, Cost.tokens(401)).granted()).isFalse();
        assertThat(limiter.tryAcquire(key, Cost.tokens(400)).granted()).isTrue();
    }
}

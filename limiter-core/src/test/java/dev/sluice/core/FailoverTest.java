package dev.sluice.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import java.time.Duration;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** {@link Failover}: refunds draw on what the failure policy granted, per key and dimension, and no more. */
class FailoverTest {

    private static final Policy POLICY = Policy.of(Limit.perMinute("requests", 10), Limit.perMinute("tokens", 5000));

    @Test
    @DisplayName("A refund draws on the key's degraded grants per dimension; only the rest goes on to the server")
    void refundsDrawOnDegradedGrants() {
        Failover failover = Failover.of(OutageDecisions.failOpen());
        assertThat(failover.acquire("k", POLICY, Cost.request().and("tokens", 500)).granted()).isTrue();
        assertThat(failover.acquire("k", POLICY, Cost.tokens(500)).granted()).isTrue();

        Failover.Split a = failover.split("k", Cost.tokens(300).and("requests", 1));
        assertThat(a.absorbed()).isEqualTo(Cost.tokens(300).and("requests", 1));
        assertThat(a.rest()).isNull();

        Failover.Refund b = failover.takeBack("k", POLICY, Cost.tokens(800));
        assertThat(b.answer()).as("the failure policy took 700 back").isNotNull();
        assertThat(b.rest()).as("700 tokens were left to draw on").isEqualTo(Cost.tokens(100));
        assertThat(failover.keys()).as("nothing left to draw on: the key is forgotten").isZero();

        Failover.Refund c = failover.takeBack("k", POLICY, Cost.tokens(5));
        assertThat(c.answer()).isNull();
        assertThat(c.rest()).isEqualTo(Cost.tokens(5));
    }

    @Test
    @DisplayName("Keys do not share degraded grants, and a dimension the key does not owe passes through")
    void keysAndDimensionsAreSeparate() {
        Failover failover = Failover.of(OutageDecisions.failOpen());
        failover.acquire("a", POLICY, Cost.tokens(10));
        assertThat(failover.split("b", Cost.tokens(10))).isEqualTo(new Failover.Split(null, Cost.tokens(10)));
        Failover.Split s = failover.split("a", Cost.request().and("tokens", 4));
        assertThat(s.absorbed()).isEqualTo(Cost.tokens(4));
        assertThat(s.rest()).isEqualTo(Cost.request());
        assertThat(failover.split("a", Cost.tokens(6)).absorbed()).isEqualTo(Cost.tokens(6));
    }

    @Test
    @DisplayName("Only grants are noted: a fail-closed denial leaves nothing for a refund to draw on")
    void denialsAreNotNoted() {
        Failover failover = Failover.of(OutageDecisions.failClosed(1000));
        Decision d = failover.acquire("k", POLICY, Cost.tokens(10));
        assertThat(d.reason()).isEqualTo(Decision.Reason.BACKEND_UNAVAILABLE);
        assertThat(failover.keys()).isZero();
        assertThat(failover.takeBack("k", POLICY, Cost.tokens(10)).rest()).isEqualTo(Cost.tokens(10));
    }

    @Test
    @DisplayName("The ledger holds at most maxKeys keys and refuses bad bounds, naming them")
    void bounded() {
        Failover failover = Failover.of(OutageDecisions.failOpen(), 10, Duration.ofMinutes(1));
        for (int i = 0; i < 1_000; i++) {
            failover.acquire("k" + i, POLICY, Cost.request());
        }
        assertThat(failover.keys()).isLessThanOrEqualTo(10);
        assertThatThrownBy(() -> Failover.of(OutageDecisions.failOpen(), 0, Duration.ofMinutes(1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("was 0");
        assertThatThrownBy(() -> Failover.of(OutageDecisions.failOpen(), 1, Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("PT0S");
    }
}

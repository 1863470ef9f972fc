package dev.sluice.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Cost;
import java.time.Duration;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** {@link DegradedGrants}: refunds draw on what the failure policy granted, per key and dimension, and no more. */
class DegradedGrantsTest {

    @Test
    @DisplayName("A refund draws on the key's degraded grants per dimension; only the rest goes on to the server")
    void refundsDrawOnDegradedGrants() {
        DegradedGrants grants = DegradedGrants.create();
        grants.granted("k", Cost.request().and("tokens", 500));
        grants.granted("k", Cost.tokens(500));

        DegradedGrants.Split a = grants.split("k", Cost.tokens(300).and("requests", 1));
        assertThat(a.absorbed()).isEqualTo(Cost.tokens(300).and("requests", 1));
        assertThat(a.rest()).isNull();

        DegradedGrants.Split b = grants.split("k", Cost.tokens(800));
        assertThat(b.absorbed()).as("700 tokens were left").isEqualTo(Cost.tokens(700));
        assertThat(b.rest()).isEqualTo(Cost.tokens(100));
        assertThat(grants.keys()).as("nothing left to draw on: the key is forgotten").isZero();

        DegradedGrants.Split c = grants.split("k", Cost.tokens(5));
        assertThat(c.absorbed()).isNull();
        assertThat(c.rest()).isEqualTo(Cost.tokens(5));
    }

    @Test
    @DisplayName("Keys do not share degraded grants, and a dimension the key does not owe passes through")
    void keysAndDimensionsAreSeparate() {
        DegradedGrants grants = DegradedGrants.create();
        grants.granted("a", Cost.tokens(10));
        assertThat(grants.split("b", Cost.tokens(10))).isEqualTo(new DegradedGrants.Split(null, Cost.tokens(10)));
        DegradedGrants.Split s = grants.split("a", Cost.request().and("tokens", 4));
        assertThat(s.absorbed()).isEqualTo(Cost.tokens(4));
        assertThat(s.rest()).isEqualTo(Cost.request());
        assertThat(grants.split("a", Cost.tokens(6)).absorbed()).isEqualTo(Cost.tokens(6));
    }

    @Test
    @DisplayName("The ledger holds at most maxKeys keys and refuses bad bounds, naming them")
    void bounded() {
        DegradedGrants grants = DegradedGrants.of(10, Duration.ofMinutes(1));
        for (int i = 0; i < 1_000; i++) {
            grants.granted("k" + i, Cost.request());
        }
        assertThat(grants.keys()).isLessThanOrEqualTo(10);
        assertThatThrownBy(() -> DegradedGrants.of(0, Duration.ofMinutes(1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("was 0");
        assertThatThrownBy(() -> DegradedGrants.of(1, Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("PT0S");
    }
}

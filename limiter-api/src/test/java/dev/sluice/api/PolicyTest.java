package dev.sluice.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class PolicyTest {

    private static final Limit RPM = Limit.perMinute("requests", 15);
    private static final Limit TPM = Limit.perMinute("tokens", 1_000_000);
    private static final Limit RPD = Limit.perDay("requests", 1500);

    @Test
    void keepsLimitsInTheOrderGiven() {
        Policy p = Policy.of(RPM, TPM, RPD);
        assertThat(p.size()).isEqualTo(3);
        assertThat(p.limits()).containsExactly(RPM, TPM, RPD);
        assertThat(p.limit(0)).isEqualTo(RPM);
        assertThat(p.limit(1)).isEqualTo(TPM);
        assertThat(p.limit(2)).isEqualTo(RPD);
        assertThat(p.shadow()).isFalse();
    }

    @Test
    void ofListEqualsOfArray() {
        assertThat(Policy.of(List.of(RPM, TPM))).isEqualTo(Policy.of(RPM, TPM));
    }

    @Test
    void copiesTheArrayItWasGiven() {
        Limit[] limits = {RPM, TPM};
        Policy p = Policy.of(limits);
        limits[0] = RPD;
        assertThat(p.limits()).containsExactly(RPM, TPM);
    }

    @Test
    void limitsAreUnmodifiable() {
        Policy p = Policy.of(RPM);
        assertThatThrownBy(() -> p.limits().add(TPM)).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> p.dimensions().add("x")).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void rejectsNoLimits() {
        assertThatThrownBy(() -> Policy.of())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at least one limit");
        assertThatThrownBy(() -> Policy.of((Limit[]) null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at least one limit");
        assertThatThrownBy(() -> Policy.of(List.of()))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Policy.of((List<Limit>) null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("was given null");
    }

    @Test
    void acceptsSixteenLimitsButNotSeventeen() {
        List<Limit> limits = new ArrayList<>();
        for (int i = 1; i <= Policy.MAX_LIMITS; i++) {
            limits.add(Limit.perMinute("d" + i, i));
        }
        assertThat(Policy.of(limits).size()).isEqualTo(16);
        limits.add(Limit.perMinute("d17", 17));
        assertThatThrownBy(() -> Policy.of(limits))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at most 16")
                .hasMessageContaining("given 17");
    }

    @Test
    void rejectsANullLimit() {
        assertThatThrownBy(() -> Policy.of(RPM, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("must not be null");
    }

    @Test
    void rejectsTheSameLimitTwiceNamingIt() {
        assertThatThrownBy(() -> Policy.of(RPM, TPM, Limit.perMinute("requests", 15)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("twice")
                .hasMessageContaining(RPM.toString());
    }

    @Test
    void allowsSeveralLimitsOnOneDimension() {
        Policy p = Policy.of(RPM, RPD, Limit.perMinute("requests", 15).withBurst(3));
        assertThat(p.size()).isEqualTo(3);
    }

    @Test
    void dimensionsAreDistinctInOrderOfFirstAppearance() {
        Policy p = Policy.of(TPM, RPM, RPD, Limit.perHour("tokens", 5));
        assertThat(p.dimensions()).containsExactly("tokens", "requests");
        assertThat(Policy.of(RPM, RPD).dimensions()).containsExactly("requests");
    }

    @Test
    void hasDimension() {
        Policy p = Policy.of(RPM, RPD);
        assertThat(p.hasDimension("requests")).isTrue();
        assertThat(p.hasDimension("tokens")).isFalse();
    }

    @Test
    void maxPeriodIsTheLongestPeriod() {
        assertThat(Policy.of(RPM, TPM, RPD).maxPeriodMicros()).isEqualTo(86_400_000_000L);
        assertThat(Policy.of(RPD, RPM).maxPeriodMicros()).isEqualTo(86_400_000_000L);
        assertThat(Policy.of(RPM).maxPeriodMicros()).isEqualTo(60_000_000L);
        Limit ms = Limit.of("x", 1, Duration.ofMillis(5), Algorithm.FIXED_WINDOW);
        assertThat(Policy.of(ms, Limit.perSecond("y", 1)).maxPeriodMicros()).isEqualTo(1_000_000L);
    }

    @Test
    void restIsTheLongestTimeAnyLimitTakesToRefillFromItsFullestUse() {
        assertThat(Policy.of(RPM, TPM, RPD).restMicros()).as("the daily window").isEqualTo(86_400_000_000L);
        assertThat(Policy.of(Limit.perMinute("tokens", 10).withBurst(100)).restMicros())
                .as("a burst of 100 at 10 a minute: ten minutes").isEqualTo(600_000_000L);
        assertThat(Policy.of(Limit.of("requests", 3, Duration.ofSeconds(10), Algorithm.GCRA).withBurst(2))
                .restMicros()).as("2 × 10 s / 3, rounded up").isEqualTo(6_666_667L);
        assertThat(Policy.of(Limit.of("requests", 5, Duration.ofMinutes(1), Algorithm.SLIDING_WINDOW_COUNTER))
                .restMicros()).as("the previous window's weight lasts a second period").isEqualTo(120_000_000L);
        assertThat(Policy.of(Limit.of("requests", 5, Duration.ofMinutes(1), Algorithm.SLIDING_LOG), RPM)
                .restMicros()).isEqualTo(60_000_000L);
        Limit longest = Limit.of("requests", 1, Duration.ofSeconds(Limit.MAX_PRODUCT / 1_000_000L),
                Algorithm.SLIDING_WINDOW_COUNTER);
        assertThat(Policy.of(longest).restMicros()).as("two of the longest period, without overflow")
                .isEqualTo(2 * longest.periodMicros()).isPositive();
    }

    @Test
    void withShadowTogglesShadowModeKeepingTheLimits() {
        Policy p = Policy.of(RPM, TPM);
        Policy shadow = p.withShadow(true);
        assertThat(shadow.shadow()).isTrue();
        assertThat(shadow.limits()).containsExactly(RPM, TPM);
        assertThat(shadow.dimensions()).containsExactly("requests", "tokens");
        assertThat(shadow.maxPeriodMicros()).isEqualTo(p.maxPeriodMicros());
        assertThat(p.shadow()).as("the original is immutable").isFalse();

        Policy back = shadow.withShadow(false);
        assertThat(back.shadow()).isFalse();
        assertThat(back).isEqualTo(p).hasSameHashCodeAs(p);
    }

    @Test
    void withShadowToTheCurrentModeReturnsTheSamePolicy() {
        Policy p = Policy.of(RPM);
        assertThat(p.withShadow(false)).isSameAs(p);
        Policy s = p.withShadow(true);
        assertThat(s.withShadow(true)).isSameAs(s);
    }

    @Test
    void equalsAndHashCode() {
        Policy a = Policy.of(RPM, TPM);
        Policy b = Policy.of(Limit.perMinute("requests", 15), Limit.perMinute("tokens", 1_000_000));
        assertThat(a).isEqualTo(b).hasSameHashCodeAs(b);
        assertThat(a).isNotEqualTo(Policy.of(RPM));
        assertThat(a).isNotEqualTo(Policy.of(RPM, Limit.perMinute("tokens", 999_999)));
        assertThat(a).isNotEqualTo(a.withShadow(true));
        assertThat(a.withShadow(true)).isEqualTo(b.withShadow(true)).hasSameHashCodeAs(b.withShadow(true));
        assertThat(a).isNotEqualTo(null);
        assertThat(a).isNotEqualTo(RPM);
    }

    @Test
    void toStringShowsLimitsAndShadow() {
        Policy p = Policy.of(RPM);
        assertThat(p.toString()).contains(RPM.toString()).doesNotContain("shadow");
        assertThat(p.withShadow(true).toString()).contains(RPM.toString()).contains("(shadow)");
    }

    @Test
    void fixedResolverReturnsThePolicyForEveryKey() {
        Policy p = Policy.of(RPM);
        PolicyResolver r = PolicyResolver.fixed(p);
        assertThat(r.policyFor("a")).isSameAs(p);
        assertThat(r.policyFor("b")).isSameAs(p);
        assertThatThrownBy(() -> PolicyResolver.fixed(null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("policy");
    }
}

package dev.sluice.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Decision.Reason;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class DecisionTest {

    private static final Limit RPM = Limit.perMinute("requests", 15);
    private static final Limit TPM = Limit.perMinute("tokens", 1_000_000);
    private static final Limit RPD = Limit.perDay("requests", 1500);
    private static final Policy POLICY = Policy.of(RPM, TPM, RPD);

    @Test
    void granted() {
        Decision d = Decision.granted(POLICY, new long[] {14, 998_800, 1499}, 0);
        assertThat(d.granted()).isTrue();
        assertThat(d.reason()).isEqualTo(Reason.GRANTED);
        assertThat(d.retryAfter()).isEqualTo(Duration.ZERO);
        assertThat(d.retryAfterMicros()).isZero();
        assertThat(d.policy()).isSameAs(POLICY);
        assertThat(d.hasRemaining()).isTrue();
        assertThat(d.remaining(0)).isEqualTo(14);
        assertThat(d.remaining(1)).isEqualTo(998_800);
        assertThat(d.remaining(2)).isEqualTo(1499);
        assertThat(d.boundBy()).isEqualTo(RPM);
        assertThat(d.boundIndex()).isZero();
    }

    @Test
    void singleLimitGrantsAreSharedNearEitherEndAndCarryTheirOwnRemaining() {
        Policy tpm = Policy.of(TPM);
        for (long remaining : new long[] {0, 63, 1_000_000, 999_937}) {
            Decision d = Decision.granted(tpm, remaining);
            assertThat(Decision.granted(tpm, remaining)).as("remaining %d", remaining).isSameAs(d);
            assertThat(d.remaining(0)).isEqualTo(remaining);
            assertThat(d.policy()).isSameAs(tpm);
            assertThat(d.granted()).isTrue();
        }
        for (long remaining : new long[] {64, 500_000, 999_936}) {
            Decision d = Decision.granted(tpm, remaining);
            assertThat(Decision.granted(tpm, remaining)).as("remaining %d", remaining).isNotSameAs(d).isEqualTo(d);
            assertThat(d.remaining(0)).isEqualTo(remaining);
        }
        Policy rpm = Policy.of(RPM);
        for (long remaining = 0; remaining <= 15; remaining++) {
            assertThat(Decision.granted(rpm, remaining)).isSameAs(Decision.granted(rpm, remaining));
            assertThat(Decision.granted(rpm, remaining).remaining(0)).isEqualTo(remaining);
        }
        Policy other = Policy.of(TPM);
        assertThat(Decision.granted(other, 999_999).policy()).isSameAs(other);
        assertThat(Decision.granted(tpm, 999_999).policy()).isSameAs(tpm);
    }

    @Test
    void grantedWithoutABound() {
        Decision d = Decision.granted(POLICY, new long[] {1, 2, 3}, -1);
        assertThat(d.boundBy()).isNull();
        assertThat(d.boundIndex()).isEqualTo(-1);
    }

    @Test
    void rateLimited() {
        Decision d = Decision.rateLimited(POLICY, 4_000_123, new long[] {0, 1000, 1400}, 0);
        assertThat(d.granted()).isFalse();
        assertThat(d.reason()).isEqualTo(Reason.RATE_LIMITED);
        assertThat(d.retryAfterMicros()).isEqualTo(4_000_123);
        assertThat(d.retryAfter()).isEqualTo(Duration.ofNanos(4_000_123_000L));
        assertThat(d.boundBy()).isEqualTo(RPM);
        assertThat(d.remaining(RPD)).isEqualTo(1400);
    }

    @Test
    void remainingOfALimit() {
        Decision d = Decision.granted(POLICY, new long[] {3, 900, 1200}, -1);
        assertThat(d.remaining(RPM)).isEqualTo(3);
        assertThat(d.remaining(TPM)).isEqualTo(900);
        assertThat(d.remaining(RPD)).isEqualTo(1200);
        assertThat(d.remaining(Limit.perMinute("requests", 15))).as("by equality").isEqualTo(3);
        assertThat(d.remaining(Limit.perHour("requests", 15))).as("not in the policy").isEqualTo(-1);
    }

    @Test
    void remainingOfADimensionIsTheMinimumOverItsLimits() {
        // the per-minute limit is the tighter one
        Decision a = Decision.granted(POLICY, new long[] {3, 900, 1200}, -1);
        assertThat(a.remaining("requests")).isEqualTo(3);
        assertThat(a.remaining("tokens")).isEqualTo(900);

        // the per-day limit, later in the policy, is the tighter one
        Decision b = Decision.granted(POLICY, new long[] {10, 900, 4}, -1);
        assertThat(b.remaining("requests")).isEqualTo(4);

        // zero is a minimum too
        Decision c = Decision.rateLimited(POLICY, 1, new long[] {0, 900, 4}, 0);
        assertThat(c.remaining("requests")).isZero();
        Decision e = Decision.rateLimited(POLICY, 1, new long[] {7, 900, 0}, 2);
        assertThat(e.remaining("requests")).isZero();
    }

    @Test
    void remainingOfADimensionNoLimitCountsIsMinusOne() {
        Decision d = Decision.granted(POLICY, new long[] {3, 900, 1200}, -1);
        assertThat(d.remaining("images")).isEqualTo(-1);
    }

    @Test
    void unavailableKnowsNothingOfWhatRemains() {
        Decision d = Decision.unavailable(POLICY, Reason.BACKEND_UNAVAILABLE, 250_000);
        assertThat(d.granted()).isFalse();
        assertThat(d.reason()).isEqualTo(Reason.BACKEND_UNAVAILABLE);
        assertThat(d.retryAfterMicros()).isEqualTo(250_000);
        assertThat(d.hasRemaining()).isFalse();
        assertThat(d.remaining(0)).isEqualTo(-1);
        assertThat(d.remaining(RPM)).isEqualTo(-1);
        assertThat(d.remaining("requests")).isEqualTo(-1);
        assertThat(d.remaining("tokens")).isEqualTo(-1);
        assertThat(d.boundBy()).isNull();
        assertThat(d.boundIndex()).isEqualTo(-1);
    }

    @Test
    void unavailableAcceptsKeyLimitReachedAndClampsNegativeWaits() {
        Decision d = Decision.unavailable(POLICY, Reason.KEY_LIMIT_REACHED, -5);
        assertThat(d.reason()).isEqualTo(Reason.KEY_LIMIT_REACHED);
        assertThat(d.granted()).isFalse();
        assertThat(d.retryAfterMicros()).isZero();
        assertThat(d.retryAfter()).isEqualTo(Duration.ZERO);
    }

    @ParameterizedTest
    @EnumSource(value = Reason.class, names = {"GRANTED", "REFUNDED", "SHADOW_DENIED"})
    void unavailableRejectsNonDenialReasonsNamingThem(Reason reason) {
        assertThatThrownBy(() -> Decision.unavailable(POLICY, reason, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(reason.name());
    }

    @Test
    void refunded() {
        Decision d = Decision.refunded(POLICY, new long[] {15, 1_000_000, 1500});
        assertThat(d.granted()).isTrue();
        assertThat(d.reason()).isEqualTo(Reason.REFUNDED);
        assertThat(d.retryAfterMicros()).isZero();
        assertThat(d.remaining("requests")).isEqualTo(15);
        assertThat(d.boundBy()).isNull();
    }

    @Test
    void asShadowGrantsARateLimitedDecisionKeepingItsWaitAndRemaining() {
        long[] remaining = {0, 1000, 1400};
        Decision denied = Decision.rateLimited(POLICY, 4_000_000, remaining, 0);
        Decision shadow = denied.asShadow();
        assertThat(shadow.granted()).isTrue();
        assertThat(shadow.reason()).isEqualTo(Reason.SHADOW_DENIED);
        assertThat(shadow.retryAfterMicros()).isEqualTo(4_000_000);
        assertThat(shadow.remaining(0)).isZero();
        assertThat(shadow.remaining(2)).isEqualTo(1400);
        assertThat(shadow.boundBy()).isEqualTo(RPM);
        assertThat(shadow.policy()).isSameAs(POLICY);
        assertThat(denied.reason()).as("the original is immutable").isEqualTo(Reason.RATE_LIMITED);
        assertThat(denied.granted()).isFalse();
    }

    @Test
    void asShadowOfAGrantIsTheGrant() {
        Decision granted = Decision.granted(POLICY, new long[] {1, 2, 3}, -1);
        assertThat(granted.asShadow()).isSameAs(granted);
    }

    @Test
    void asDeadlineExceededRefusesARateLimitedDecisionKeepingItsWait() {
        Decision denied = Decision.rateLimited(POLICY, 9_000_000, new long[] {0, 1000, 1400}, 1);
        Decision late = denied.asDeadlineExceeded();
        assertThat(late.granted()).isFalse();
        assertThat(late.reason()).isEqualTo(Reason.DEADLINE_EXCEEDED);
        assertThat(late.retryAfterMicros()).isEqualTo(9_000_000);
        assertThat(late.remaining(1)).isEqualTo(1000);
        assertThat(late.boundBy()).isEqualTo(TPM);
        assertThat(denied.reason()).isEqualTo(Reason.RATE_LIMITED);
    }

    @Test
    void asDeadlineExceededLeavesOtherReasonsAlone() {
        Decision granted = Decision.granted(POLICY, new long[] {1, 2, 3}, -1);
        Decision down = Decision.unavailable(POLICY, Reason.BACKEND_UNAVAILABLE, 10);
        Decision shadow = Decision.rateLimited(POLICY, 5, new long[] {0, 0, 0}, 0).asShadow();
        assertThat(granted.asDeadlineExceeded()).isSameAs(granted);
        assertThat(down.asDeadlineExceeded()).isSameAs(down);
        assertThat(shadow.asDeadlineExceeded()).isSameAs(shadow);
    }

    @Test
    void equalsAndHashCode() {
        Decision a = Decision.rateLimited(POLICY, 100, new long[] {0, 5, 6}, 0);
        Decision b = Decision.rateLimited(Policy.of(RPM, TPM, RPD), 100, new long[] {0, 5, 6}, 0);
        assertThat(a).isEqualTo(b).hasSameHashCodeAs(b);

        assertThat(a).isNotEqualTo(Decision.rateLimited(POLICY, 101, new long[] {0, 5, 6}, 0));
        assertThat(a).isNotEqualTo(Decision.rateLimited(POLICY, 100, new long[] {0, 5, 7}, 0));
        assertThat(a).isNotEqualTo(Decision.rateLimited(POLICY, 100, new long[] {0, 5, 6}, 2));
        assertThat(a).isNotEqualTo(Decision.rateLimited(POLICY.withShadow(true), 100, new long[] {0, 5, 6}, 0));
        assertThat(a).isNotEqualTo(a.asShadow());
        assertThat(a).isNotEqualTo(a.asDeadlineExceeded());
        assertThat(Decision.granted(POLICY, new long[] {1, 2, 3}, -1))
                .isNotEqualTo(Decision.refunded(POLICY, new long[] {1, 2, 3}));
        assertThat(Decision.unavailable(POLICY, Reason.BACKEND_UNAVAILABLE, 5))
                .isEqualTo(Decision.unavailable(POLICY, Reason.BACKEND_UNAVAILABLE, 5))
                .isNotEqualTo(Decision.unavailable(POLICY, Reason.KEY_LIMIT_REACHED, 5));
        assertThat(a).isNotEqualTo(null);
    }

    @Test
    void toStringNamesReasonWaitAndBound() {
        Decision d = Decision.rateLimited(POLICY, 1500, new long[] {0, 5, 6}, 0);
        assertThat(d.toString())
                .contains("RATE_LIMITED")
                .contains("1500")
                .contains("[0, 5, 6]")
                .contains(RPM.toString());
    }

    /**
     * BUG: retryAfter() computes {@code Duration.ofNanos(retryAfterMicros * 1000L)} without overflow checking. A limit
     * whose period is valid (Limit accepts up to 2^62 µs) can need a wait above 2^63 ns (~292 years); the product then
     * wraps silently and retryAfter() returns a much shorter, wrong duration.
     */
    @Test
    void retryAfterDoesNotOverflowForWaitsAllowedByTheLimit() {
        Limit millennium = Limit.of("requests", 1, Duration.ofDays(365_000), Algorithm.FIXED_WINDOW);
        long wait = 20_000_000_000_000_000L; // about 634 years, shorter than the limit's period
        Decision d = Decision.rateLimited(Policy.of(millennium), wait, new long[] {0}, 0);
        assertThat(d.retryAfter()).isEqualTo(Duration.of(wait, ChronoUnit.MICROS));
    }
}

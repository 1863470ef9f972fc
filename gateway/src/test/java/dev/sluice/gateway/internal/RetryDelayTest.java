package dev.sluice.gateway.internal;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The wait before a retry after an upstream 429: the pool's cooldown plus the jitter, or none past the deadline. */
class RetryDelayTest {

    @Test
    @DisplayName("A retry waits the cooldown plus the jitter when that ends before the deadline")
    void cooldownPlusJitter() {
        assertThat(ProxyHandler.retryDelayMicros(150, 20_000, 5_000_000_000L)).isEqualTo(170_000);
        assertThat(ProxyHandler.retryDelayMicros(0, 0, 1_000_000)).isZero();
        assertThat(ProxyHandler.retryDelayMicros(0, 7_000, 1_000_000_000L)).isEqualTo(7_000);
    }

    @Test
    @DisplayName("No retry when the cooldown, or the cooldown plus the jitter, is not before the deadline")
    void pastTheDeadline() {
        assertThat(ProxyHandler.retryDelayMicros(150, 0, 150_000_000L)).isEqualTo(-1);
        assertThat(ProxyHandler.retryDelayMicros(5_000, 0, 1_000_000_000L)).isEqualTo(-1);
        // the cooldown alone would fit: the jitter drawn takes it past the deadline
        assertThat(ProxyHandler.retryDelayMicros(100, 900_000, 1_000_000_000L)).isEqualTo(-1);
        assertThat(ProxyHandler.retryDelayMicros(0, 0, 0)).isEqualTo(-1);
    }
}

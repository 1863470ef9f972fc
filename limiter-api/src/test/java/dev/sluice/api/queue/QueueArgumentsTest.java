package dev.sluice.api.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class QueueArgumentsTest {

    @Test
    @DisplayName("Queue settings: good values pass through, bad ones are refused with the value named")
    void checks() {
        assertThat(QueueArguments.leaseDuration(Duration.ofMillis(1))).isEqualTo(Duration.ofMillis(1));
        assertThatThrownBy(() -> QueueArguments.leaseDuration(Duration.ofNanos(999_999)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("PT0.000999999S");
        assertThat(QueueArguments.maxDeliveries(1)).isEqualTo(1);
        assertThatThrownBy(() -> QueueArguments.maxDeliveries(0)).hasMessageContaining("was 0");
        assertThat(QueueArguments.positive("maxJobs", 7)).isEqualTo(7);
        assertThatThrownBy(() -> QueueArguments.positive("maxJobs", -1)).hasMessageContaining("maxJobs")
                .hasMessageContaining("-1");
        assertThat(QueueArguments.idempotencyWindow(Duration.ZERO)).isZero();
        assertThatThrownBy(() -> QueueArguments.idempotencyWindow(Duration.ofSeconds(-1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("PT-1S");
        assertThatThrownBy(() -> QueueArguments.leaseDuration(null)).isInstanceOf(NullPointerException.class);
    }
}

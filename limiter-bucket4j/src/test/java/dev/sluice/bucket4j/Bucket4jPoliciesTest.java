package dev.sluice.bucket4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import io.github.bucket4j.Bucket;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class Bucket4jPoliciesTest {

    private final ManualTicker ticker = new ManualTicker(1_000_000);
    private final Policy policy = Policy.of(
            Limit.of("requests", 10, Duration.ofSeconds(1), Algorithm.TOKEN_BUCKET),
            Limit.of("tokens", 100, Duration.ofSeconds(1), Algorithm.TOKEN_BUCKET));

    private Bucket[] buckets() {
        Bucket[] b = new Bucket[policy.size()];
        for (int i = 0; i < b.length; i++) {
            b[i] = Bucket.builder().withCustomTimePrecision(Bucket4jPolicies.timeMeter(ticker, false))
                    .addLimit(Bucket4jPolicies.bandwidth(policy.limit(i))).build();
        }
        return b;
    }

    @Test
    @DisplayName("a refusal by a later limit gives the earlier limits their tokens back")
    void allOrNothing() {
        Bucket[] b = buckets();
        Decision d = Bucket4jPolicies.acquire(policy, Cost.request().and("tokens", 101), b);
        assertThat(d.granted()).isFalse();
        assertThat(d.boundBy()).isEqualTo(policy.limit(1));
        assertThat(Bucket4jPolicies.remaining(b)).containsExactly(10, 100);
    }

    @Test
    @DisplayName("a denial reports the longest wait over all limits and that limit, never shorter than needed")
    void longestWait() {
        Bucket[] b = buckets();
        assertThat(Bucket4jPolicies.acquire(policy, Cost.requests(10).and("tokens", 100), b).granted()).isTrue();
        Decision d = Bucket4jPolicies.acquire(policy, Cost.request().and("tokens", 50), b);
        assertThat(d.granted()).isFalse();
        assertThat(d.boundBy()).isEqualTo(policy.limit(1)); // 50 tokens take 500 ms, 1 request 100 ms
        assertThat(d.retryAfterMicros()).isBetween(500_000L, 500_001L);
        ticker.advance(Duration.ofMillis(499));
        assertThat(Bucket4jPolicies.acquire(policy, Cost.request().and("tokens", 50), b).granted()).isFalse();
        ticker.advance(d.retryAfter().minusMillis(499));
        assertThat(Bucket4jPolicies.acquire(policy, Cost.request().and("tokens", 50), b).granted()).isTrue();
    }

    @Test
    @DisplayName("a refund gives units back, never beyond a full bucket")
    void refund() {
        Bucket[] b = buckets();
        Bucket4jPolicies.acquire(policy, Cost.requests(4).and("tokens", 40), b);
        Decision d = Bucket4jPolicies.refund(policy, Cost.requests(10).and("tokens", 10), b);
        assertThat(Bucket4jPolicies.remaining(b)).containsExactly(10, 70);
        assertThat(d.remaining("tokens")).isEqualTo(70);
    }

    @Test
    @DisplayName("only token-bucket policies run on Bucket4j; the error names the limit")
    void tokenBucketsOnly() {
        Policy gcra = Policy.of(Limit.perMinute("requests", 5).withAlgorithm(Algorithm.GCRA));
        assertThatThrownBy(() -> Bucket4jPolicies.requireTokenBuckets(gcra, "Engine"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Engine").hasMessageContaining("GCRA");
        Bucket4jPolicies.requireTokenBuckets(policy, "Engine");
    }

    /** {@code real}, except that {@code method} throws, as a distributed store's timeout would. */
    private static Bucket failing(Bucket real, String method) {
        return (Bucket) Proxy.newProxyInstance(Bucket.class.getClassLoader(), new Class<?>[] {Bucket.class},
                (proxy, m, args) -> {
                    if (m.getName().equals(method)) {
                        throw new IllegalStateException("store down");
                    }
                    try {
                        return m.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    @Test
    @DisplayName("a bucket that fails mid-way, or a failed read of what remains after a grant, leaves every limit as it"
            + " was: the failure propagates, nothing stays charged")
    void failureChargesNothing() {
        Bucket[] b = buckets();
        Bucket[] consumeFails = {b[0], failing(b[1], "tryConsumeAndReturnRemaining")};
        assertThatThrownBy(() -> Bucket4jPolicies.acquire(policy, Cost.request().and("tokens", 10), consumeFails))
                .hasMessage("store down");
        assertThat(Bucket4jPolicies.remaining(b)).containsExactly(10, 100);
        Bucket[] readFails = {b[0], failing(b[1], "getAvailableTokens")};
        assertThatThrownBy(() -> Bucket4jPolicies.acquire(policy, Cost.request().and("tokens", 10), readFails))
                .hasMessage("store down");
        assertThat(Bucket4jPolicies.remaining(b)).containsExactly(10, 100);
    }

    @Test
    @DisplayName("a token bucket Bucket4j cannot run (faster than a token per nanosecond, or a period its nanosecond "
            + "arithmetic overflows) is refused up front, naming the limit")
    void beyondBucket4j() {
        for (Limit l : new Limit[] {Limit.perSecond("tokens", 2_000_000_000L),
                Limit.of("requests", 1, Duration.ofDays(365L * 300), Algorithm.TOKEN_BUCKET)}) {
            assertThatThrownBy(() -> Bucket4jPolicies.requireTokenBuckets(Policy.of(l), "Engine"))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Engine cannot run")
                    .hasMessageContaining(l.dimension());
        }
    }

    @Test
    @DisplayName("an empty bucket refills within refillMicros, and bucket names differ when numbers differ")
    void refillAndNames() {
        assertThat(Bucket4jPolicies.refillMicros(policy)).isEqualTo(2_000_000);
        assertThat(Bucket4jPolicies.bucketName(policy.limit(0)))
                .isNotEqualTo(Bucket4jPolicies.bucketName(policy.limit(0).withBurst(20)));
    }
}

package dev.sluice.core.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** {@link PolicyCodec}'s state encoding: what it writes reads back, and what it did not write is refused. */
class PolicyCodecTest {

    /** One limit of each algorithm, each on its own dimension. */
    private static final Policy EVERY_ALGORITHM = Policy.of(
            Limit.of("f", 10, Duration.ofSeconds(1), Algorithm.FIXED_WINDOW),
            Limit.of("l", 10, Duration.ofSeconds(1), Algorithm.SLIDING_LOG),
            Limit.of("c", 10, Duration.ofSeconds(1), Algorithm.SLIDING_WINDOW_COUNTER),
            Limit.of("t", 10, Duration.ofSeconds(1), Algorithm.TOKEN_BUCKET).withBurst(15),
            Limit.of("g", 10, Duration.ofSeconds(1), Algorithm.GCRA).withBurst(15));
    private static final Cost ONE_EACH = Cost.of("f", 1).and("l", 1).and("c", 1).and("t", 1).and("g", 1);

    /** The state after a few grants spread over 1.5 s. */
    private static PolicyState busy() {
        @Nullable PolicyState state = null;
        for (long now = 1_000_000; now < 2_500_000; now += 150_001) {
            PolicyEngine.Result r = PolicyEngine.acquire(EVERY_ALGORITHM, state, ONE_EACH, now);
            assertThat(r.decision().granted()).isTrue();
            state = r.state();
        }
        assertThat(state).isNotNull();
        return state;
    }

    @Test
    @DisplayName("A state of every algorithm reads back as itself: the same bytes again and the same next decisions")
    void roundTrip() {
        PolicyState state = busy();
        byte[] bytes = PolicyCodec.encode(state);
        PolicyState back = PolicyCodec.decode(bytes);
        assertThat(PolicyCodec.encode(back)).isEqualTo(bytes);
        PolicyState a = state;
        PolicyState b = back;
        for (long now = 2_600_000; now < 4_000_000; now += 37_003) {
            PolicyEngine.Result ra = PolicyEngine.acquire(EVERY_ALGORITHM, a, ONE_EACH, now);
            PolicyEngine.Result rb = PolicyEngine.acquire(EVERY_ALGORITHM, b, ONE_EACH, now);
            assertThat(rb.decision()).hasToString(ra.decision().toString());
            a = ra.state();
            b = rb.state();
        }
    }

    @Test
    @DisplayName("Every truncation of an encoding is refused with IllegalArgumentException")
    void truncated() {
        byte[] bytes = PolicyCodec.encode(busy());
        for (int n = 0; n < bytes.length; n++) {
            byte[] cut = Arrays.copyOf(bytes, n);
            assertThatThrownBy(() -> PolicyCodec.decode(cut)).as("first %d bytes", n)
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    @DisplayName("Bytes after the state, or a state of another algorithm than its limit's, are refused")
    void trailingOrMismatched() {
        byte[] bytes = PolicyCodec.encode(busy());
        byte[] longer = Arrays.copyOf(bytes, bytes.length + 1);
        assertThatThrownBy(() -> PolicyCodec.decode(longer)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not a policy state encoding");

        Policy gcra = Policy.of(Limit.of("g", 10, Duration.ofSeconds(1), Algorithm.GCRA));
        byte[] tokenBucketState = encoding(PolicyCodec.spec(gcra), out -> {
            out.writeByte(4);
            out.writeLong(5);
            out.writeLong(6);
        });
        assertThatThrownBy(() -> PolicyCodec.decode(tokenBucketState)).isInstanceOf(IllegalArgumentException.class)
                .hasStackTraceContaining("state tag 4");
    }

    @Test
    @DisplayName("A sliding log claiming more entries than its bytes hold, or a negative count, allocates nothing and is"
            + " refused")
    void absurdLogCount() {
        Policy log = Policy.of(Limit.of("l", 10, Duration.ofSeconds(1), Algorithm.SLIDING_LOG));
        for (int n : new int[] {Integer.MAX_VALUE, 100_001, 2, -1}) {
            byte[] bytes = encoding(PolicyCodec.spec(log), out -> {
                out.writeByte(2);
                out.writeInt(n);
                out.writeLong(1); // one entry's worth of bytes
                out.writeLong(1);
            });
            assertThatThrownBy(() -> PolicyCodec.decode(bytes)).as("%d entries", n)
                    .isInstanceOf(IllegalArgumentException.class).hasStackTraceContaining("a sliding log of " + n);
        }
    }

    @Test
    @DisplayName("Random corruption of an encoding either reads back or is refused with IllegalArgumentException,"
            + " never another error")
    void corrupted() {
        byte[] bytes = PolicyCodec.encode(busy());
        Random random = new Random(20261203);
        int read = 0;
        int refused = 0;
        for (int i = 0; i < 5_000; i++) {
            byte[] bad = bytes.clone();
            for (int flips = 1 + random.nextInt(3); flips > 0; flips--) {
                bad[random.nextInt(bad.length)] = (byte) random.nextInt(256);
            }
            try {
                PolicyCodec.decode(bad);
                read++;
            } catch (IllegalArgumentException expected) {
                refused++;
            }
        }
        assertThat(read).as("corruptions of numbers only still read").isPositive();
        assertThat(refused).as("corruptions of the spec or the structure are refused").isPositive();
    }

    private interface Body {
        void write(DataOutputStream out) throws IOException;
    }

    private static byte[] encoding(String spec, Body body) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.writeUTF(spec);
            body.write(out);
            out.flush();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}

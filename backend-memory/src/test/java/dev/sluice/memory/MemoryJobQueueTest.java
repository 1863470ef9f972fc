package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.ManualTicker;
import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Priority;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** What only the in-memory queue has to show: its bound on remembered idempotency keys. */
class MemoryJobQueueTest {

    private static JobRequest keyed(String key) {
        return JobRequest.builder(new byte[] {1}).tenant("t").idempotencyKey(key).build();
    }

    @Test
    @DisplayName("at most maxIdempotencyKeys keys are remembered, the oldest forgotten first; the kept ones still"
            + " catch duplicates, and the window still applies")
    void idempotencyKeysAreBounded() {
        ManualTicker ticker = new ManualTicker();
        MemoryJobQueue q = MemoryJobQueue.builder().ticker(ticker).maxIdempotencyKeys(3).build();
        Map<String, String> ids = new HashMap<>();
        for (int i = 0; i < 10; i++) {
            ids.put("k" + i, q.enqueue(keyed("k" + i)));
            ticker.advance(Duration.ofSeconds(1));
            assertThat(q.rememberedKeys()).isEqualTo(Math.min(i + 1, 3));
        }
        for (String k : new String[] {"k7", "k8", "k9"}) {
            assertThat(q.enqueue(keyed(k))).isEqualTo(ids.get(k));
        }
        assertThat(q.depth(Priority.NORMAL)).isEqualTo(10);
        String again = q.enqueue(keyed("k0"));
        assertThat(again).isNotEqualTo(ids.get("k0"));
        assertThat(q.rememberedKeys()).isEqualTo(3);
        assertThat(q.enqueue(keyed("k0"))).isEqualTo(again);
        assertThat(q.enqueue(keyed("k9"))).isEqualTo(ids.get("k9"));
        assertThat(q.depth(Priority.NORMAL)).isEqualTo(11);
        ticker.advance(Duration.ofHours(25));
        assertThat(q.enqueue(keyed("k9"))).isNotEqualTo(ids.get("k9"));
        assertThat(q.rememberedKeys()).isEqualTo(1);
    }
}

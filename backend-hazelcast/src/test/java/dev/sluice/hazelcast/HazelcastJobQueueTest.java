package dev.sluice.hazelcast;

import static org.assertj.core.api.Assertions.assertThat;

import com.hazelcast.core.HazelcastInstance;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Lease;
import dev.sluice.api.queue.Priority;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What only the Hazelcast queue has to show: a member's loss loses no job, acked or not. */
class HazelcastJobQueueTest {

    @Test
    @Timeout(120)
    @DisplayName("a member killed abruptly loses nothing: waiting and leased jobs survive on the backups, acked ones"
            + " stay gone")
    void memberLossLosesNothing() {
        List<HazelcastInstance> members = Members.start(3);
        try {
            ManualTicker ticker = new ManualTicker();
            HazelcastJobQueue producer = HazelcastJobQueue.builder(members.get(0), "survive").ticker(ticker)
                    .leaseDuration(Duration.ofSeconds(30)).build();
            HazelcastJobQueue worker = HazelcastJobQueue.builder(members.get(1), "survive").ticker(ticker)
                    .leaseDuration(Duration.ofSeconds(30)).build();
            for (int i = 0; i < 300; i++) {
                producer.enqueue(JobRequest.builder(new byte[] {(byte) i}).tenant("t" + (i % 3)).build());
            }
            List<Lease> taken = worker.take(50);
            assertThat(taken).hasSize(50);
            Set<String> acked = new HashSet<>();
            for (int i = 0; i < 20; i++) {
                assertThat(worker.ack(taken.get(i))).isTrue();
                acked.add(taken.get(i).job().id());
            }
            members.get(2).getLifecycleService().terminate();
            assertThat(producer.depth(Priority.NORMAL)).isEqualTo(280);
            // The 30 leased ones come back when their leases expire.
            ticker.advance(Duration.ofSeconds(31));
            Set<String> rest = new HashSet<>();
            for (int round = 0; round < 100 && rest.size() < 280; round++) {
                for (Lease l : producer.take(50)) {
                    assertThat(rest.add(l.job().id())).isTrue();
                    assertThat(producer.ack(l)).isTrue();
                }
            }
            assertThat(rest).hasSize(280).doesNotContainAnyElementsOf(acked);
            assertThat(producer.depth(Priority.NORMAL)).isZero();
        } finally {
            members.forEach(m -> {
                if (m.getLifecycleService().isRunning()) {
                    m.shutdown();
                }
            });
        }
    }
}

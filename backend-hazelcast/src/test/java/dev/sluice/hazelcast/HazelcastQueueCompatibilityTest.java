package dev.sluice.hazelcast;

import com.hazelcast.core.HazelcastInstance;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.queue.JobQueue;
import dev.sluice.testkit.QueueCompatibilityKit;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The queue kit on a real 3-member cluster in this JVM; each handle of a queue goes through the next member, so
 * workers on different members share one queue. Leases run on the kit's manual ticker.
 */
class HazelcastQueueCompatibilityTest extends QueueCompatibilityKit {

    private static final AtomicInteger HANDLES = new AtomicInteger();
    private static List<HazelcastInstance> members;

    @BeforeAll
    static void startCluster() {
        members = Members.start(3);
    }

    @AfterAll
    static void stopCluster() {
        members.forEach(HazelcastInstance::shutdown);
    }

    @Override
    protected JobQueue openQueue(String name, Duration lease, int maxDeliveries, ManualTicker ticker) {
        return HazelcastJobQueue.builder(members.get(HANDLES.getAndIncrement() % 3), name).ticker(ticker)
                .leaseDuration(lease).maxDeliveries(maxDeliveries).build();
    }

    @Override
    protected JobQueue openBoundedQueue(String name, long maxJobs, ManualTicker ticker) {
        return HazelcastJobQueue.builder(members.get(HANDLES.getAndIncrement() % 3), name).ticker(ticker)
                .leaseDuration(lease()).maxDeliveries(MAX_DELIVERIES).maxJobs(maxJobs).build();
    }
}

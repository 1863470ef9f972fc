package dev.sluice.memory;

import dev.sluice.api.ManualTicker;
import dev.sluice.api.queue.JobQueue;
import dev.sluice.testkit.QueueCompatibilityKit;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/** The queue kit on the in-memory queue: handles of one name are the same object; leases run on the manual ticker. */
class MemoryQueueCompatibilityTest extends QueueCompatibilityKit {

    private final Map<String, JobQueue> queues = new HashMap<>();

    @Override
    protected JobQueue openQueue(String name, Duration lease, int maxDeliveries, ManualTicker ticker) {
        return queues.computeIfAbsent(name, n -> MemoryJobQueue.builder().ticker(ticker).leaseDuration(lease)
                .maxDeliveries(maxDeliveries).build());
    }

    @Override
    protected JobQueue openBoundedQueue(String name, long maxJobs, ManualTicker ticker) {
        return MemoryJobQueue.builder().ticker(ticker).maxDeliveries(MAX_DELIVERIES).maxJobs(maxJobs).build();
    }
}

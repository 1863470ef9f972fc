package dev.sluice.redis;

import dev.sluice.api.ManualTicker;
import dev.sluice.api.queue.JobQueue;
import dev.sluice.testkit.QueueCompatibilityKit;
import dev.sluice.testkit.redis.RedisExtension;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.redisson.api.RedissonClient;

/**
 * The queue kit on a real Redis. Each handle has its own Redisson client (its own connections), so killing a worker
 * is shutting its client down without giving anything back. Leases run on Redis's clock, so the kit waits them out.
 */
class RedisQueueCompatibilityTest extends QueueCompatibilityKit {

    @RegisterExtension
    static final RedisExtension REDIS = new RedisExtension();

    @AfterAll
    static void deleteKeys() {
        RedissonClient c = Clients.connect(REDIS.endpoint());
        try {
            c.getKeys().deleteByPattern("kitq:*");
        } finally {
            c.shutdown();
        }
    }

    @Override
    protected JobQueue openQueue(String name, Duration lease, int maxDeliveries, ManualTicker ticker) {
        return RedisJobQueue.builderOwningClient(Clients.connect(REDIS.endpoint()), name).namespace("kitq")
                .ticker(ticker).leaseDuration(lease).maxDeliveries(maxDeliveries).build();
    }

    @Override
    protected JobQueue openBoundedQueue(String name, long maxJobs, ManualTicker ticker) {
        return RedisJobQueue.builderOwningClient(Clients.connect(REDIS.endpoint()), name).namespace("kitq")
                .ticker(ticker).leaseDuration(lease()).maxDeliveries(MAX_DELIVERIES).maxLength(maxJobs).build();
    }

    @Override
    protected boolean manualLeaseClock() {
        return false;
    }

    @Override
    protected void kill(JobQueue handle) {
        handle.close();
    }
}

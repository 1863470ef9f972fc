package dev.sluice.redis;

import dev.sluice.api.queue.Lease;
import dev.sluice.api.queue.Priority;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.redisson.Redisson;
import org.redisson.api.RList;
import org.redisson.api.RedissonClient;
import org.redisson.client.codec.StringCodec;
import org.redisson.config.Config;

/**
 * A worker in its own JVM, for {@link RedisQueueProcessKillTest}: completes and acks jobs (recording each
 * completion in a Redis list) until it has acked {@code args[2]}, then takes one more batch, completes half of it
 * without acking, records the batch, prints {@code HOLDING} and waits to be killed.
 */
public final class QueueWorkerProcess {

    private QueueWorkerProcess() {
    }

    public static void main(String[] args) throws Exception {
        Config config = new Config();
        config.useSingleServer().setAddress(args[0]);
        RedissonClient client = Redisson.create(config);
        RedisJobQueue queue = RedisJobQueue.builder(client, args[1]).namespace("kill")
                .leaseDuration(Duration.ofMillis(Long.parseLong(args[3]))).build();
        RList<String> done = client.getList("kill:done", StringCodec.INSTANCE);
        RList<String> held = client.getList("kill:held", StringCodec.INSTANCE);
        int target = Integer.parseInt(args[2]);
        int acked = 0;
        while (acked < target) {
            for (Lease l : queue.take(Priority.NORMAL, "t", Math.min(10, target - acked))) {
                done.add(text(l));
                queue.ack(l);
                acked++;
            }
        }
        List<Lease> inFlight = queue.take(Priority.NORMAL, "t", 10);
        for (int i = 0; i < inFlight.size(); i++) {
            held.add(text(inFlight.get(i)));
            if (i % 2 == 0) {
                done.add(text(inFlight.get(i)));
            }
        }
        System.out.println("HOLDING");
        System.out.flush();
        Thread.sleep(600_000);
    }

    private static String text(Lease l) {
        return new String(l.job().payload(), StandardCharsets.UTF_8);
    }
}

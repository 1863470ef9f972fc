package dev.sluice.redis;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Lease;
import dev.sluice.api.queue.Priority;
import dev.sluice.testkit.redis.RedisExtension;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.redisson.api.RedissonClient;
import org.redisson.client.codec.StringCodec;

/** At-least-once across a real process kill: the worker is a separate JVM, killed with SIGKILL. */
class RedisQueueProcessKillTest {

    @RegisterExtension
    static final RedisExtension REDIS = new RedisExtension();

    @Test
    @Timeout(120)
    @DisplayName("1,000 jobs, a worker process killed (SIGKILL) after 300 acks and another worker started: 1,000"
            + " distinct completions, duplicates only among the jobs the killed process held")
    void killedProcessLosesNothing() throws Exception {
        RedissonClient client = Clients.connect(REDIS.endpoint());
        long leaseMillis = 1000;
        try {
            RedisJobQueue queue = RedisJobQueue.builder(client, "killq").namespace("kill")
                    .leaseDuration(Duration.ofMillis(leaseMillis)).build();
            for (int i = 0; i < 1000; i++) {
                queue.enqueue(JobRequest.builder(("j" + i).getBytes(StandardCharsets.UTF_8)).tenant("t").build());
            }
            String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
            Process worker = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                    QueueWorkerProcess.class.getName(), REDIS.endpoint().uri(), "killq", "300",
                    Long.toString(leaseMillis)).redirectErrorStream(true).start();
            try (BufferedReader out = new BufferedReader(new InputStreamReader(worker.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                boolean holding = false;
                while (!holding && (line = out.readLine()) != null) {
                    holding = line.contains("HOLDING");
                }
                assertThat(holding).as("the worker process reached its in-flight batch").isTrue();
            } finally {
                worker.destroyForcibly();
                assertThat(worker.waitFor(30, TimeUnit.SECONDS)).isTrue();
            }
            Map<String, Integer> completions = new HashMap<>();
            for (String j : client.<String>getList("kill:done", StringCodec.INSTANCE).readAll()) {
                completions.merge(j, 1, Integer::sum);
            }
            Set<String> held = new HashSet<>(client.<String>getList("kill:held", StringCodec.INSTANCE).readAll());
            assertThat(completions).hasSize(300 + (held.size() + 1) / 2);

            RedisJobQueue second = RedisJobQueue.builder(client, "killq").namespace("kill")
                    .leaseDuration(Duration.ofMillis(leaseMillis)).build();
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (completions.size() < 1000 && System.nanoTime() < until) {
                List<Lease> batch = second.take(Priority.NORMAL, "t", 50);
                if (batch.isEmpty()) {
                    Thread.sleep(100);
                }
                for (Lease l : batch) {
                    completions.merge(new String(l.job().payload(), StandardCharsets.UTF_8), 1, Integer::sum);
                    assertThat(second.ack(l)).isTrue();
                }
            }
            assertThat(completions).hasSize(1000);
            completions.forEach((job, n) -> {
                if (n > 1) {
                    assertThat(held).as("duplicate " + job).contains(job);
                }
            });
            assertThat(second.depth(Priority.NORMAL)).isZero();
        } finally {
            client.getKeys().deleteByPattern("kill:*");
            client.shutdown();
        }
    }
}

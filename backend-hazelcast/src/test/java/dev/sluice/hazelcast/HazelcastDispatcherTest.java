package dev.sluice.hazelcast;

import static org.assertj.core.api.Assertions.assertThat;

import com.hazelcast.core.HazelcastInstance;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Priority;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.core.queue.Dispatcher;
import dev.sluice.core.queue.JobHandler;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The dispatcher on a Hazelcast queue and a Hazelcast limiter, two dispatchers on two members sharing the work. */
class HazelcastDispatcherTest {

    @Test
    @Timeout(120)
    @DisplayName("two dispatchers on two members drain one queue: every job runs once, every future completes")
    void twoDispatchersShareOneQueue() throws Exception {
        List<HazelcastInstance> members = Members.start(2);
        try {
            Policy policy = Policy.of(Limit.perSecond("requests", 100_000));
            List<Dispatcher<String>> dispatchers = new ArrayList<>();
            List<SluiceLimiter> limiters = new ArrayList<>();
            Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();
            for (HazelcastInstance m : members) {
                HazelcastJobQueue q = HazelcastJobQueue.builder(m, "dispatch").build();
                SluiceLimiter l = SluiceLimiter.builder(HazelcastBackend.builder(m).mapName("dispatch-limits")
                        .timeout(Duration.ofSeconds(10)).build()).policy(policy).build();
                limiters.add(l);
                dispatchers.add(Dispatcher.builder(q, l, (JobHandler<String>) j -> {
                    String text = new String(j.payload(), StandardCharsets.UTF_8);
                    runs.computeIfAbsent(text, k -> new AtomicInteger()).incrementAndGet();
                    return text;
                }).name("hz" + dispatchers.size()).build());
            }
            List<CompletableFuture<String>> fs = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                fs.add(dispatchers.get(i % 2).submit(JobRequest.builder(("j" + i).getBytes(StandardCharsets.UTF_8))
                        .tenant("t" + (i % 3)).build()));
            }
            // A future completes only where its job ran; together the two dispatchers ran all 100, once each.
            HazelcastJobQueue probe = HazelcastJobQueue.builder(members.get(0), "dispatch").build();
            for (int i = 0; i < 600 && probe.depth(Priority.NORMAL) > 0; i++) {
                Thread.sleep(50);
            }
            assertThat(probe.depth(Priority.NORMAL)).isZero();
            assertThat(runs).hasSize(100);
            assertThat(runs.values()).allMatch(n -> n.get() == 1);
            for (Dispatcher<String> d : dispatchers) {
                d.close();
                assertThat(d.pending()).isEmpty();
            }
            // Every future is done: with its result where its job ran, failed (job ran elsewhere) otherwise.
            assertThat(fs).allMatch(CompletableFuture::isDone);
            for (int i = 0; i < 100; i++) {
                CompletableFuture<String> f = fs.get(i);
                if (!f.isCompletedExceptionally()) {
                    assertThat(f.get(1, TimeUnit.SECONDS)).isEqualTo("j" + i);
                }
            }
            limiters.forEach(SluiceLimiter::close);
        } finally {
            members.forEach(HazelcastInstance::shutdown);
        }
    }
}

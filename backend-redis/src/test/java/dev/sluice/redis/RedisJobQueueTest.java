package dev.sluice.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Lease;
import dev.sluice.api.queue.Priority;
import dev.sluice.api.queue.QueueFullException;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.core.queue.Dispatcher;
import dev.sluice.core.queue.JobHandler;
import dev.sluice.testkit.redis.RedisExtension;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.redisson.api.RStream;
import org.redisson.api.RedissonClient;
import org.redisson.api.StreamMessageId;
import org.redisson.client.codec.StringCodec;

/** What only the Redis Streams queue has: streams that hold only unfinished work, and a dispatcher on top. */
@Timeout(60)
class RedisJobQueueTest {

    @RegisterExtension
    static final RedisExtension REDIS = new RedisExtension();

    private static RedissonClient client;

    @BeforeAll
    static void connect() {
        client = Clients.connect(REDIS.endpoint());
    }

    @AfterAll
    static void disconnect() {
        client.getKeys().deleteByPattern("rq:*");
        client.shutdown();
    }

    private static JobRequest job(String text) {
        return JobRequest.builder(text.getBytes(StandardCharsets.UTF_8)).tenant("t").build();
    }

    private static String text(Lease l) {
        return new String(l.job().payload(), StandardCharsets.UTF_8);
    }

    /** Enqueues one job on lane t, takes and acks it: the lane then holds nothing. Returns its spent lease. */
    private static Lease finishOne(RedisJobQueue q) {
        q.enqueue(job("a"));
        List<Lease> taken = q.take(Priority.NORMAL, "t", 1);
        assertThat(taken).hasSize(1);
        assertThat(q.ack(taken.get(0))).isTrue();
        return taken.get(0);
    }

    private static RStream<String, String> stream(RedisJobQueue q) {
        return client.getStream(q.keyPrefix() + ":s:" + Priority.NORMAL.ordinal() + ":t", StringCodec.INSTANCE);
    }

    @Test
    @DisplayName("a full lane counts only unfinished entries: leased and undelivered ones are never dropped, acked"
            + " ones free their place at once")
    void fullLaneCountsUnfinishedWork() {
        RedisJobQueue q = RedisJobQueue.builder(client, "full").namespace("rq").maxLength(5).build();
        for (int i = 1; i <= 5; i++) {
            q.enqueue(job("j" + i));
        }
        assertThatThrownBy(() -> q.enqueue(job("j6"))).isInstanceOf(QueueFullException.class);
        List<Lease> taken = q.take(Priority.NORMAL, "t", 3);
        assertThat(taken).extracting(RedisJobQueueTest::text).containsExactly("j1", "j2", "j3");
        q.ack(taken.get(0));
        q.ack(taken.get(2));
        // j2 leased, j4 and j5 waiting: room for two more.
        q.enqueue(job("j6"));
        q.enqueue(job("j7"));
        assertThat(stream(q).size()).isEqualTo(5);
        assertThatThrownBy(() -> q.enqueue(job("j8"))).isInstanceOf(QueueFullException.class);
        q.ack(taken.get(1));
        q.enqueue(job("j8"));
        List<Lease> rest = q.take(Priority.NORMAL, "t", 10);
        assertThat(rest).extracting(RedisJobQueueTest::text).containsExactly("j4", "j5", "j6", "j7", "j8");
        rest.forEach(q::ack);
        assertThat(q.depth(Priority.NORMAL)).isZero();
    }

    @Test
    @DisplayName("an acked or dead-lettered job leaves its stream at once: no finished payload stays behind")
    void finishedEntriesLeaveTheStream() {
        RedisJobQueue q = RedisJobQueue.builder(client, "finished").namespace("rq").maxDeliveries(1).build();
        for (int i = 0; i < 200; i++) {
            q.enqueue(job("j" + i));
        }
        for (List<Lease> batch = q.take(Priority.NORMAL, "t", 30); !batch.isEmpty();
                batch = q.take(Priority.NORMAL, "t", 30)) {
            for (Lease l : batch) {
                if (text(l).equals("j7")) {
                    assertThat(q.release(l)).isTrue(); // its one delivery spent: dead-lettered by the next take
                } else {
                    assertThat(q.ack(l)).isTrue();
                }
            }
        }
        assertThat(q.deadLetters(10)).extracting(j -> new String(j.payload(), StandardCharsets.UTF_8))
                .containsExactly("j7");
        assertThat(stream(q).size()).isZero();
        assertThat(stream(q).range(10, StreamMessageId.MIN, StreamMessageId.MAX)).isEmpty();
        assertThat(q.depth(Priority.NORMAL)).isZero();
    }

    @Test
    @DisplayName("an expired lease behind many live ones (more than one XAUTOCLAIM looks at) is taken back by the "
            + "next take")
    void expiredLeaseBehindLiveOnes() throws Exception {
        RedisJobQueue q = RedisJobQueue.builder(client, "behind").namespace("rq").leaseDuration(Duration.ofSeconds(3))
                .build();
        for (int i = 0; i < 30; i++) {
            q.enqueue(job("live" + i));
        }
        q.enqueue(job("late"));
        List<Lease> live = q.take(Priority.NORMAL, "t", 30);
        assertThat(live).hasSize(30);
        assertThat(q.take(Priority.NORMAL, "t", 1)).extracting(RedisJobQueueTest::text).containsExactly("late");
        Thread.sleep(2_000);
        for (Lease l : live) {
            assertThat(q.extend(l)).isTrue(); // idle again from now: live for 3 s more
        }
        Thread.sleep(1_500); // "late" idle 3.5 s: expired; the others 1.5 s
        List<Lease> again = q.take(Priority.NORMAL, "t", 1);
        assertThat(again).extracting(RedisJobQueueTest::text).containsExactly("late");
        assertThat(again.get(0).job().deliveries()).isEqualTo(2);
    }

    @Test
    @DisplayName("a lane's stream deleted while idle and made again never issues an entry id, so a job id, twice: "
            + "it starts after the greatest id the deleted one issued, even one ahead of Redis's clock")
    void idsNeverReissued() {
        RedisJobQueue q = RedisJobQueue.builder(client, "reissue").namespace("rq").build();
        finishOne(q);
        // the stream issued ids up to an hour ahead of the clock (as after Redis's clock stepped back)
        long aheadMillis = System.currentTimeMillis() + 3_600_000;
        client.getScript(StringCodec.INSTANCE).eval(org.redisson.api.RScript.Mode.READ_WRITE,
                "return redis.call('XSETID', KEYS[1], ARGV[1])", org.redisson.api.RScript.ReturnType.STATUS,
                List.of(stream(q).getName()), aheadMillis + "-5");
        assertThat(q.take(Priority.NORMAL, "t", 1)).isEmpty();
        assertThat(stream(q).isExists()).as("idle: gone").isFalse();
        String b = q.enqueue(job("b"));
        String[] entry = b.split(":")[1].split("-");
        assertThat(Long.parseLong(entry[0]) > aheadMillis
                || Long.parseLong(entry[0]) == aheadMillis && Long.parseLong(entry[1]) > 5)
                .as("entry %s after %d-5", b, aheadMillis).isTrue();
        assertThat(q.take(Priority.NORMAL, "t", 1)).extracting(RedisJobQueueTest::text).containsExactly("b");
    }

    @Test
    @DisplayName("a lane that holds nothing leaves no key once looked at: its stream, group and consumers go, and the "
            + "next enqueue makes them again; a stale lease's ack on it is refused, not an error")
    void idleLanesLeaveNoKey() {
        RedisJobQueue q = RedisJobQueue.builder(client, "idle").namespace("rq").build();
        Lease taken = finishOne(q);
        assertThat(stream(q).isExists()).as("an entry was leased until the ack").isTrue();
        assertThat(q.take(Priority.NORMAL, "t", 1)).isEmpty();
        assertThat(stream(q).isExists()).as("idle: gone").isFalse();
        assertThat(q.ack(taken)).as("a stale ack").isFalse();
        assertThat(q.release(taken)).isFalse();
        assertThat(q.extend(taken)).isFalse();
        assertThat(q.cancel(taken.job().id())).isFalse();
        q.enqueue(job("b"));
        assertThat(q.take(Priority.NORMAL, "t", 5)).extracting(RedisJobQueueTest::text).containsExactly("b");
        assertThat(q.depth(Priority.NORMAL)).isEqualTo(1);
    }

    @Test
    @DisplayName("a dispatcher drains a Redis queue under a Redis limiter, woken by the enqueue channel")
    void dispatcherOnRedis() throws Exception {
        RedisJobQueue q = RedisJobQueue.builder(client, "dispatch").namespace("rq").build();
        RedisBackend backend = RedisBackend.builder(client).namespace("rq").build();
        SluiceLimiter limiter = SluiceLimiter.builder(backend).policy(Policy.of(Limit.perSecond("requests", 10_000)))
                .build();
        try (Dispatcher<String> d = Dispatcher.builder(q, limiter,
                (JobHandler<String>) j -> new String(j.payload(), StandardCharsets.UTF_8))
                .idlePoll(Duration.ofMinutes(1)).name("redis").build()) {
            List<CompletableFuture<String>> fs = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                fs.add(d.submit(job("j" + i)));
            }
            for (int i = 0; i < 50; i++) {
                assertThat(fs.get(i).get(20, TimeUnit.SECONDS)).isEqualTo("j" + i);
            }
            for (int i = 0; i < 500 && !d.pending().isEmpty(); i++) {
                Thread.sleep(10); // acknowledged a moment after the handler returns
            }
            assertThat(d.pending()).isEmpty();
        }
        assertThat(q.depth(Priority.NORMAL)).isZero();
        backend.close();
    }
}

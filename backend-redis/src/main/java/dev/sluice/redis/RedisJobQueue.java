package dev.sluice.redis;

import dev.sluice.api.Ticker;
import dev.sluice.api.queue.Job;
import dev.sluice.api.queue.JobQueue;
import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Lease;
import dev.sluice.api.queue.Priority;
import dev.sluice.api.queue.QueueArguments;
import dev.sluice.api.queue.QueueFullException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;
import org.redisson.api.RBatch;
import org.redisson.api.RFuture;
import org.redisson.api.RScript;
import org.redisson.api.RTopic;
import org.redisson.api.RedissonClient;
import org.redisson.api.StreamMessageId;
import org.redisson.client.codec.StringCodec;

/**
 * A {@link JobQueue} on Redis Streams, shared by every handle on the same Redis, namespace and queue name. Each
 * operation is one {@code EVALSHA} of one Lua script, so it is atomic.
 *
 * <ul>
 *   <li><b>Lanes</b>: one stream per priority class and tenant, {@code <ns>:{<queue>}:s:<priority>:<tenant>}, read
 *       by the consumer group {@code workers}; each handle is one consumer. A set per class names the tenants with
 *       work, a hash counts unfinished jobs per class. Every key of a queue carries the hash tag {@code {<queue>}}, so
 *       a queue lives in one Redis Cluster slot. A take that finds a lane holding nothing (none waiting, none leased)
 *       deletes its stream, with the group and its consumers: an idle tenant costs no key. The queue's one
 *       {@code floor} key keeps the greatest entry id a deleted stream had issued, and a stream made again starts
 *       after it ({@code XSETID}), so no job id is ever issued twice.</li>
 *   <li><b>Take</b>: {@code XAUTOCLAIM} first (entries whose lease, the entry's idle time in the group, exceeds the
 *       lease duration: their worker died or gave them back), then {@code XREADGROUP >} for new entries. The
 *       consumer group's delivery counter is the job's delivery count; a claimed entry past
 *       {@linkplain Builder#maxDeliveries maxDeliveries} is copied to the dead-letter stream {@code <ns>:{<queue>}:dlq}
 *       and acked and deleted instead.</li>
 *   <li><b>Ack</b> is {@code XACK} and {@code XDEL}; <b>give back</b> is {@code XCLAIM} to the placeholder consumer
 *       {@code given-back} with {@code IDLE <long> JUSTID}, which makes the entry look long expired so the next
 *       {@code XAUTOCLAIM} takes it without raising its count twice; <b>extend</b> is {@code XCLAIM ... JUSTID},
 *       which resets the idle time. Each checks first that the lease's consumer and delivery count still hold the
 *       entry. <b>Cancel</b> deletes an entry that is undelivered or given back.</li>
 *   <li><b>A lane's stream holds only unfinished work</b>: ack, dead-lettering and cancel delete the entry
 *       ({@code XDEL}), so no finished payload stays behind and the stream's length is the lane's unfinished jobs.
 *       When it reaches {@linkplain Builder#maxLength maxLength}, enqueue throws {@link QueueFullException}
 *       (back-pressure; a plain {@code MAXLEN} would drop the oldest work). A stream left by an older version, which
 *       kept acked entries, is first trimmed by {@code XTRIM MINID <floor>}, the floor being the oldest entry still
 *       pending or, with none, the last delivered: everything from there on is unfinished, so it stays. The
 *       dead-letter stream is capped with {@code MAXLEN ~}.</li>
 * </ul>
 *
 * <p>Leases run on Redis's clock (entry idle times), so application clocks cannot expire them early. Deadlines and
 * enqueue times are read on the handle's {@linkplain Builder#ticker ticker}. New jobs are published on a channel,
 * which {@link #onEnqueue} listens to. A handle's consumer stays in the group after {@link #close()} (deleting it
 * would drop its pending entries); consumers without pending entries may be deleted by an operator.
 */
public final class RedisJobQueue implements JobQueue {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.:-]{1,64}");
    private static final String SCRIPT = loadScript();

    private final RedissonClient client;
    private final boolean ownsClient;
    private final RScript script;
    private final String prefix;
    private final String consumer = UUID.randomUUID().toString();
    private final Ticker ticker;
    private final long leaseMillis;
    private final int maxDeliveries;
    private final long maxLength;
    private final long deadLetterLength;
    private final long idempotencyMillis;
    private volatile String sha;

    private RedisJobQueue(Builder b) {
        this.client = b.client;
        this.ownsClient = b.ownsClient;
        this.script = client.getScript(StringCodec.INSTANCE);
        this.prefix = b.namespace + ":{" + b.name + "}";
        this.ticker = b.ticker;
        this.leaseMillis = b.lease.toMillis();
        this.maxDeliveries = b.maxDeliveries;
        this.maxLength = b.maxLength;
        this.deadLetterLength = b.deadLetterLength;
        this.idempotencyMillis = Math.max(1, b.idempotencyWindow.toMillis());
        this.sha = script.scriptLoad(SCRIPT);
    }

    /** A builder of the queue {@code name} on {@code client}, which stays the caller's to shut down. */
    public static Builder builder(RedissonClient client, String name) {
        return new Builder(Objects.requireNonNull(client, "client"), name, false);
    }

    /** As {@link #builder(RedissonClient, String)}, the queue owning (and on close shutting down) the client. */
    public static Builder builderOwningClient(RedissonClient client, String name) {
        return new Builder(Objects.requireNonNull(client, "client"), name, true);
    }

    private static String loadScript() {
        try (InputStream in = RedisJobQueue.class.getResourceAsStream("queue.lua")) {
            if (in == null) {
                throw new IllegalStateException("queue.lua missing from the classpath");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private String stream(Priority p, String tenant) {
        return prefix + ":s:" + p.ordinal() + ":" + tenant;
    }

    private String lanes(Priority p) {
        return prefix + ":lanes:" + p.ordinal();
    }

    private String depthKey() {
        return prefix + ":depth";
    }

    private String channel() {
        return prefix + ":new";
    }

    private List<Object> call(List<Object> keys, Object... args) {
        try {
            return script.evalSha(RScript.Mode.READ_WRITE, sha, RScript.ReturnType.MULTI, keys, args);
        } catch (RuntimeException e) {
            if (!String.valueOf(e.getMessage()).contains("NOSCRIPT")) {
                throw e;
            }
            sha = script.scriptLoad(SCRIPT);
            return script.evalSha(RScript.Mode.READ_WRITE, sha, RScript.ReturnType.MULTI, keys, args);
        }
    }

    @Override
    public String enqueue(JobRequest r) {
        Objects.requireNonNull(r, "request");
        String idem = r.idempotencyKey();
        List<Object> keys = List.of(stream(r.priority(), r.tenant()), lanes(r.priority()), depthKey(),
                idem == null ? prefix + ":idem:" : prefix + ":idem:" + idem, channel(), prefix + ":floor");
        List<Object> out = call(keys, "enqueue", Integer.toString(r.priority().ordinal()), r.tenant(),
                Base64.getEncoder().encodeToString(r.payload()), Long.toString(r.deadlineMicros()),
                idem == null ? "" : idem, Long.toString(ticker.nowMicros()), Long.toString(maxLength),
                Long.toString(idempotencyMillis));
        if ("full".equals(out.get(0))) {
            throw new QueueFullException("lane " + r.priority() + "/" + r.tenant() + " holds " + maxLength
                    + " unfinished jobs");
        }
        return String.valueOf(out.get(1));
    }

    @Override
    public List<Lease> take(Priority priority, String tenant, int max) {
        if (max < 1) {
            throw new IllegalArgumentException("max must be positive, was " + max);
        }
        List<Object> out = call(List.of(stream(priority, tenant), lanes(priority), depthKey(), prefix + ":dlq",
                prefix + ":floor"), "take", Integer.toString(priority.ordinal()), tenant, consumer,
                Integer.toString(max), Long.toString(leaseMillis), Integer.toString(maxDeliveries),
                Long.toString(deadLetterLength));
        List<Lease> leases = new ArrayList<>(out.size() / 6);
        for (int i = 0; i + 5 < out.size(); i += 6) {
            String entry = String.valueOf(out.get(i));
            int n = Integer.parseInt(String.valueOf(out.get(i + 1)));
            Job job = job(priority.ordinal() + ":" + entry + ":" + tenant, priority, tenant, out, i + 2, n);
            leases.add(new Lease(job, consumer + "/" + n));
        }
        return leases;
    }

    private static Job job(String id, Priority p, String tenant, List<Object> out, int at, int deliveries) {
        String key = String.valueOf(out.get(at + 2));
        return new Job(id, Base64.getDecoder().decode(String.valueOf(out.get(at))), tenant, p,
                Long.parseLong(String.valueOf(out.get(at + 1))), key.isEmpty() ? null : key,
                Long.parseLong(String.valueOf(out.get(at + 3))), deliveries);
    }

    /** A job id: {@code <priority ordinal>:<stream entry id>:<tenant>}. */
    private record Parsed(Priority priority, String entry, String tenant) {
        static Parsed of(String jobId) {
            String[] parts = jobId.split(":", 3);
            if (parts.length != 3) {
                throw new IllegalArgumentException("not a job id of this queue: " + jobId);
            }
            return new Parsed(Priority.values()[Integer.parseInt(parts[0])], parts[1], parts[2]);
        }
    }

    @Override
    public Set<String> tenants(Priority priority) {
        return new LinkedHashSet<>(client.<String>getSet(lanes(priority), StringCodec.INSTANCE).readAll());
    }

    /** One round trip: the three sets in one batch. */
    @Override
    public Map<Priority, Set<String>> tenantsByPriority() {
        RBatch batch = client.createBatch();
        List<RFuture<Set<String>>> sets = new ArrayList<>();
        for (Priority p : Priority.values()) {
            sets.add(batch.<String>getSet(lanes(p), StringCodec.INSTANCE).readAllAsync());
        }
        batch.execute();
        Map<Priority, Set<String>> out = new EnumMap<>(Priority.class);
        for (Priority p : Priority.values()) {
            out.put(p, new LinkedHashSet<>(sets.get(p.ordinal()).toCompletableFuture().join()));
        }
        return out;
    }

    private boolean leaseOp(String op, Lease lease) {
        Parsed p = Parsed.of(lease.job().id());
        String token = lease.token();
        int slash = token.lastIndexOf('/');
        List<Object> out = call(List.of(stream(p.priority, p.tenant), depthKey(), channel()), op,
                Integer.toString(p.priority.ordinal()), p.entry, token.substring(0, slash),
                token.substring(slash + 1), Long.toString(leaseMillis));
        return "1".equals(String.valueOf(out.get(0)));
    }

    @Override
    public boolean ack(Lease lease) {
        return leaseOp("ack", lease);
    }

    @Override
    public boolean release(Lease lease) {
        return leaseOp("release", lease);
    }

    @Override
    public boolean extend(Lease lease) {
        return leaseOp("extend", lease);
    }

    @Override
    public boolean cancel(String jobId) {
        Parsed p;
        try {
            p = Parsed.of(jobId);
        } catch (RuntimeException e) {
            return false;
        }
        List<Object> out = call(List.of(stream(p.priority, p.tenant), depthKey()), "cancel",
                Integer.toString(p.priority.ordinal()), p.entry);
        return "1".equals(String.valueOf(out.get(0)));
    }

    @Override
    public long depth(Priority priority) {
        Object v = client.<String, String>getMap(depthKey(), StringCodec.INSTANCE)
                .get(Integer.toString(priority.ordinal()));
        return v == null ? 0 : Long.parseLong(String.valueOf(v));
    }

    @Override
    public List<Job> deadLetters(int max) {
        Map<StreamMessageId, Map<String, String>> entries = client.<String, String>getStream(prefix + ":dlq",
                StringCodec.INSTANCE).range(max, StreamMessageId.MIN, StreamMessageId.MAX);
        List<Job> out = new ArrayList<>();
        for (Map<String, String> f : entries.values()) {
            Parsed p = Parsed.of(f.get("j"));
            String key = f.get("k");
            out.add(new Job(f.get("j"), Base64.getDecoder().decode(f.get("d")), p.tenant, p.priority,
                    Long.parseLong(f.get("dl")), key == null || key.isEmpty() ? null : key,
                    Long.parseLong(f.get("e")), Integer.parseInt(f.get("n"))));
        }
        return out;
    }

    @Override
    public Duration leaseDuration() {
        return Duration.ofMillis(leaseMillis);
    }

    @Override
    public int maxDeliveries() {
        return maxDeliveries;
    }

    @Override
    public AutoCloseable onEnqueue(Runnable listener) {
        RTopic topic = client.getTopic(channel(), StringCodec.INSTANCE);
        int id = topic.addListener(String.class, (ch, msg) -> listener.run());
        return () -> topic.removeListener(id);
    }

    /** The Redis keys of this queue start with this prefix (for operators). */
    public String keyPrefix() {
        return prefix;
    }

    /** Shuts the client down if the queue owns it. */
    @Override
    public void close() {
        if (ownsClient) {
            client.shutdown();
        }
    }

    /**
     * Builds a {@link RedisJobQueue}: namespace {@code sluice}, leases of 30 s, 5 deliveries, at most 1,000,000
     * unfinished jobs per lane, 10,000 dead letters, a 24 h idempotency window, the system ticker.
     */
    public static final class Builder {
        private final RedissonClient client;
        private final String name;
        private final boolean ownsClient;
        private String namespace = "sluice";
        private Ticker ticker = Ticker.system();
        private Duration lease = Duration.ofSeconds(30);
        private int maxDeliveries = 5;
        private long maxLength = 1_000_000;
        private long deadLetterLength = 10_000;
        private Duration idempotencyWindow = Duration.ofHours(24);

        private Builder(RedissonClient client, String name, boolean ownsClient) {
            if (name == null || !NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("queue name must be 1-64 of [A-Za-z0-9_.:-], was '" + name + "'");
            }
            this.client = client;
            this.name = name;
            this.ownsClient = ownsClient;
        }

        /** The key namespace: 1-64 of [A-Za-z0-9_.:-]. */
        public Builder namespace(String namespace) {
            if (namespace == null || !NAME.matcher(namespace).matches()) {
                throw new IllegalArgumentException("namespace must be 1-64 of [A-Za-z0-9_.:-], was '" + namespace
                        + "'");
            }
            this.namespace = namespace;
            return this;
        }

        /** The clock of enqueue times and deadlines (leases run on Redis's clock). */
        public Builder ticker(Ticker ticker) {
            this.ticker = Objects.requireNonNull(ticker, "ticker");
            return this;
        }

        /** How long a lease lasts; at least 1 ms. Every handle of a queue must use the same. */
        public Builder leaseDuration(Duration lease) {
            this.lease = QueueArguments.leaseDuration(lease);
            return this;
        }

        /** Deliveries before a job is dead-lettered; at least 1. */
        public Builder maxDeliveries(int maxDeliveries) {
            this.maxDeliveries = QueueArguments.maxDeliveries(maxDeliveries);
            return this;
        }

        /** The most unfinished jobs a lane holds; enqueue beyond it throws {@link QueueFullException}. */
        public Builder maxLength(long maxLength) {
            this.maxLength = QueueArguments.positive("maxLength", maxLength);
            return this;
        }

        /** About how many dead letters are kept ({@code MAXLEN ~}). */
        public Builder deadLetterLength(long deadLetterLength) {
            this.deadLetterLength = Math.max(1, deadLetterLength);
            return this;
        }

        /** How long an idempotency key is remembered after its job was enqueued. */
        public Builder idempotencyWindow(Duration window) {
            this.idempotencyWindow = QueueArguments.idempotencyWindow(window);
            return this;
        }

        /** The queue (loads its script). */
        public RedisJobQueue build() {
            return new RedisJobQueue(this);
        }
    }
}

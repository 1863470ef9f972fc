package dev.sluice.redis;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.api.Ticker;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.core.Failover;
import dev.sluice.core.FailurePolicy;
import dev.sluice.core.OutageDecisions;
import dev.sluice.core.engine.PolicyCodec;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;
import org.redisson.Redisson;
import org.redisson.api.FunctionMode;
import org.redisson.api.FunctionResult;
import org.redisson.api.RFunction;
import org.redisson.api.RScript;
import org.redisson.api.RedissonClient;
import org.redisson.client.codec.StringCodec;
import org.redisson.config.Config;
import org.redisson.connection.ConnectionManager;

/**
 * Limiter state in Redis, shared by every instance that uses the same Redis and namespace. Each acquire or refund is
 * one call of one script, the Lua twin of the reference algorithms: all limits of a policy are checked and charged in
 * one atomic step, with no read-modify-write from Java, no lock and no retry. Calls that arrive while one is in
 * flight are coalesced into the next (smart batching, per Cluster slot), so many threads share round trips.
 *
 * <p>The script runs as a Redis function ({@code FCALL}, library {@code sluice_<version hash>}) on Redis 7+, or with
 * {@code EVALSHA} on older servers or when {@linkplain Builder#redisFunctions asked}. It is loaded once and reloaded
 * by itself when Redis lost it ({@code Function not found} or {@code NOSCRIPT}: a restarted Redis,
 * {@code FUNCTION FLUSH}, {@code SCRIPT FLUSH}); it is the only script, so Redis's script and function caches stay
 * constant whatever keys and costs are used.
 *
 * <p><b>Time</b> is Redis's {@code TIME} unless a {@linkplain Builder#ticker ticker} is given (for tests), so
 * applications with skewed clocks share one timeline.
 *
 * <p><b>Keys</b>: one hash per key, {@code <namespace>:{k:<key>}} for keys of up to 128 characters of
 * {@code [A-Za-z0-9_.:/@-]}, otherwise {@code <namespace>:{h:<sha-256 of the key>}}, so no key can collide with
 * another, inject a hash tag or grow without bound. All state of one key lives in one hash (one Cluster slot). The
 * hash expires one second after its state comes to rest (a full bucket, windows over; a minute under a test
 * {@linkplain Builder#ticker ticker}, whose time may stand still), and is deleted at once when a refund leaves it
 * fresh.
 *
 * <p><b>Exactness</b>: Lua computes in doubles, exact for integers below 2<sup>53</sup>, so this backend refuses (with
 * {@link IllegalArgumentException}) limits whose {@code burst × period} or {@code capacity × period} (µs) reach
 * 2<sup>53</sup>, a tighter bound than {@link Limit#MAX_PRODUCT}: 1,000,000 tokens per minute is fine, and so is
 * 100,000 per day.
 *
 * <p><b>Failures</b>: if Redis does not answer within the {@linkplain Builder#timeout timeout}, the
 * {@link FailurePolicy} decides, and Redis is tried again after a {@linkplain Builder#retryInterval short interval}.
 * An error about one key's value (another program's value under its Redis key) gets the failure policy for that key
 * only.
 * No Redis exception escapes. A request whose caller gave up is not sent if it is still queued; one already sent
 * may still be charged, since Redis cannot be asked to forget it. Units the failure policy granted are noted per key
 * ({@link Failover}): a later refund of them goes back to the failure policy, not to Redis, which never charged
 * them.
 */
public final class RedisBackend implements LimiterBackend {

    /** Largest product a Lua double holds exactly. */
    static final long LUA_EXACT = 1L << 53;

    private static final Pattern NAMESPACE = Pattern.compile("[A-Za-z0-9_.:-]{1,64}");
    private static final String SCRIPT = loadScript();
    private static final String SHA = sha1(SCRIPT);
    /** The script's last line, which runs it under EVALSHA; a Redis function registers {@code main} instead. */
    private static final String EVAL_ENTRY = "return main(KEYS, ARGV)\n";
    /** The library and function name: one per script version, so two Sluice versions on one Redis do not clash. */
    static final String LIBRARY = "sluice_" + SHA.substring(0, 16);
    private static final String LIBRARY_CODE = libraryCode();
    /** The most requests one script call carries. */
    private static final int MAX_BATCH = 128;

    private final RedissonClient client;
    private final boolean ownsClient;
    private final RScript script;
    private final RFunction functions;
    /** Whether calls go through FCALL (Redis 7+); turns false by itself on a server without functions. */
    private volatile boolean useFunctions;
    private final String namespace;
    private final @Nullable Ticker ticker;
    private final long timeoutMillis;
    private final long retryIntervalNanos;
    private final Failover outage;
    private final int maxInFlight;
    private final Map<Policy, String> specs = new ConcurrentHashMap<>();
    private final AtomicLong degraded = new AtomicLong();
    private final Map<Object, Lane> lanes = new ConcurrentHashMap<>();
    private final @Nullable ConnectionManager slots;
    private volatile long downUntilNanos;

    private RedisBackend(Builder b) {
        this.client = b.client;
        this.ownsClient = b.ownsClient;
        this.script = client.getScript(StringCodec.INSTANCE);
        this.functions = client.getFunction(StringCodec.INSTANCE);
        this.useFunctions = b.redisFunctions;
        this.slots = client instanceof Redisson r ? r.getCommandExecutor().getConnectionManager() : null;
        this.namespace = b.namespace;
        this.ticker = b.ticker;
        this.timeoutMillis = b.timeout.toMillis();
        this.retryIntervalNanos = b.retryInterval.toNanos();
        this.maxInFlight = b.maxCallsInFlight;
        this.outage = Failover.of(switch (b.failurePolicy) {
            case FAIL_CLOSED -> OutageDecisions.failClosed(Math.max(1000, retryIntervalNanos / 1000));
            case FAIL_OPEN -> OutageDecisions.failOpen();
            case LOCAL_FALLBACK -> {
                if (b.fallback == null) {
                    throw new IllegalStateException("LOCAL_FALLBACK needs a fallback backend (Builder.localFallback)");
                }
                yield OutageDecisions.localFallback(b.fallback, b.fallbackShare);
            }
        });
    }

    /** A builder on {@code client}, which stays the caller's to shut down. */
    public static Builder builder(RedissonClient client) {
        return new Builder(Objects.requireNonNull(client, "client"), false);
    }

    /**
     * A builder on a client made from {@code config} (single server, Sentinel, Cluster, password, TLS: whatever
     * Redisson's {@link Config} says); the backend owns that client and shuts it down on {@link #close()}.
     */
    public static Builder builder(Config config) {
        return new Builder(Redisson.create(Objects.requireNonNull(config, "config")), true);
    }

    @Override
    public Decision acquire(String key, Policy policy, Cost cost) {
        return call("a", key, policy, cost).decision();
    }

    /**
     * As {@link #acquire}, also telling the Redis time at which the script decided: for audits and for measuring
     * accuracy on Redis's own timeline.
     */
    public TimedDecision acquireTimed(String key, Policy policy, Cost cost) {
        return call("a", key, policy, cost);
    }

    /**
     * A decision and the backend time (µs) at which it was taken, or -1 if the failure policy took it without Redis.
     */
    public record TimedDecision(Decision decision, long decidedAtMicros) {
    }

    @Override
    public Decision refund(String key, Policy policy, Cost cost) {
        return call("r", key, policy, cost).decision();
    }

    /** Redis cannot count keys cheaply: -1. */
    @Override
    public long liveKeys() {
        return -1;
    }

    /** Takes the failure policy's decision, and counts it. */
    private Decision degraded(String op, String key, Policy policy, Cost cost) {
        degraded.incrementAndGet();
        return op.equals("r") ? outage.refund(key, policy, cost) : outage.acquire(key, policy, cost);
    }

    /** How many decisions were taken without Redis (by the failure policy) so far. */
    public long degradedDecisions() {
        return degraded.get();
    }

    /** The Redis key that holds {@code key}'s state. */
    public String redisKey(String key) {
        String tag = plain(key) ? "k:" + key : "h:" + sha256(key);
        return namespace + ":{" + tag + "}";
    }

    /** Whether {@code key} may appear as it is: 1-128 characters of {@code [A-Za-z0-9_.:/@-]} (no regex per call). */
    private static boolean plain(String key) {
        int n = key.length();
        if (n == 0 || n > 128) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            char c = key.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '_' || c == '.' || c == ':' || c == '/' || c == '@' || c == '-';
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /** Shuts the Redisson client down if this backend created it. */
    @Override
    public void close() {
        if (ownsClient) {
            client.shutdown();
        }
    }

    private TimedDecision call(String op, String key, Policy policy, Cost requested) {
        String spec = specs.computeIfAbsent(policy, RedisBackend::spec);
        Cost cost = requested;
        if (op.equals("r")) {
            Failover.Refund back = outage.takeBack(key, policy, requested); // what the failure policy granted
            if (back.rest() == null) {
                return new TimedDecision(Objects.requireNonNull(back.answer()), -1);
            }
            cost = back.rest();
        }
        if (System.nanoTime() - downUntilNanos < 0) {
            return new TimedDecision(degraded(op, key, policy, cost), -1);
        }
        long[] costs = new long[policy.size()];
        for (int i = 0; i < costs.length; i++) {
            costs[i] = cost.units(policy.limit(i).dimension());
        }
        String redisKey = redisKey(key);
        Request request = new Request(op, redisKey, spec, costs);
        Lane lane = lanes.computeIfAbsent(laneOf(redisKey), k -> new Lane());
        lane.queue.add(request);
        lane.drain();
        try {
            Answer a = request.result.get(timeoutMillis, TimeUnit.MILLISECONDS);
            return new TimedDecision(decode(op, policy, a), a.now());
        } catch (InterruptedException e) {
            request.result.cancel(false); // not sent if still queued: a caller that gave up is charged nothing
            Thread.currentThread().interrupt();
            return new TimedDecision(degraded(op, key, policy, cost), -1);
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            request.result.cancel(false);
            if (!keyError(e)) {
                downUntilNanos = System.nanoTime() + retryIntervalNanos;
            }
            return new TimedDecision(degraded(op, key, policy, cost), -1);
        }
    }

    /**
     * Whether Redis answered with an error about this key's value rather than failed: a foreign value under its Redis
     * key ({@code WRONGTYPE}) or a hash the script cannot read (a Lua error). Only that key's callers get the failure
     * policy; Redis stays in use for every other key.
     */
    static boolean keyError(Throwable e) {
        Throwable c = e;
        while ((c instanceof ExecutionException || c instanceof java.util.concurrent.CompletionException)
                && c.getCause() != null) {
            c = c.getCause();
        }
        if (c.getClass() != org.redisson.client.RedisException.class) {
            return false; // timeouts, lost connections, a loading or read-only server: an outage
        }
        String m = String.valueOf(c.getMessage());
        return m.startsWith("WRONGTYPE") || m.contains("user_script") || m.contains("user_function");
    }

    /** Requests that may share one script call: one Cluster slot (the key itself without slot information). */
    private Object laneOf(String redisKey) {
        ConnectionManager manager = slots;
        return manager != null ? (Object) manager.calcSlot(redisKey) : redisKey;
    }

    /** One acquire or refund waiting for its script call. */
    private static final class Request {
        final String op;
        final String key;
        final String spec;
        final long[] costs;
        final CompletableFuture<Answer> result = new CompletableFuture<>();

        Request(String op, String key, String spec, long[] costs) {
            this.op = op;
            this.key = key;
            this.spec = spec;
            this.costs = costs;
        }
    }

    /**
     * Smart batching: at most {@linkplain Builder#maxCallsInFlight maxCallsInFlight} script calls in flight per lane.
     * A request that arrives while they are all in flight waits in the queue, and all that queued go together in
     * the next call, sent as soon as one answers. No timer, and no added latency when idle or lightly loaded: a
     * request is sent at once while a slot is free.
     */
    private final class Lane {
        final ConcurrentLinkedQueue<Request> queue = new ConcurrentLinkedQueue<>();
        final AtomicInteger inFlight = new AtomicInteger();

        void drain() {
            while (!queue.isEmpty()) {
                int n = inFlight.get();
                if (n >= maxInFlight) {
                    return;
                }
                if (!inFlight.compareAndSet(n, n + 1)) {
                    continue;
                }
                List<Request> batch = new ArrayList<>();
                Request r;
                while (batch.size() < MAX_BATCH && (r = queue.poll()) != null) {
                    if (!r.result.isDone()) { // its caller timed out: the failure policy answered it instead
                        batch.add(r);
                    }
                }
                if (batch.isEmpty()) {
                    inFlight.decrementAndGet();
                    continue;
                }
                send(batch, true);
            }
        }

        private void send(List<Request> batch, boolean reload) {
            // Each distinct key and spec goes once; the requests go as one string of integers (see limiter.lua):
            // Redisson encodes every argument into a buffer of its own, which cost more than Redis's parsing.
            List<Object> keys = new ArrayList<>(4);
            List<Object> args = new ArrayList<>(4);
            args.add(ticker == null ? "" : Long.toString(ticker.nowMicros()));
            args.add(""); // the number of specs, set below
            StringBuilder requests = new StringBuilder(batch.size() * 12);
            for (Request r : batch) {
                int key = indexOf(keys, r.key, 0);
                int spec = indexOf(args, r.spec, 2);
                if (requests.length() > 0) {
                    requests.append(' ');
                }
                requests.append(r.op.equals("a") ? '1' : '2').append(' ').append(key).append(' ').append(spec);
                for (long c : r.costs) {
                    requests.append(' ').append(c);
                }
            }
            args.set(1, Integer.toString(args.size() - 2));
            args.add(requests.toString());
            boolean viaFunction = useFunctions;
            CompletionStage<String> call;
            try {
                call = viaFunction
                        ? functions.<String>callAsync(FunctionMode.WRITE, LIBRARY, FunctionResult.STRING, keys,
                                args.toArray())
                        : script.<String>evalShaAsync(RScript.Mode.READ_WRITE, SHA, RScript.ReturnType.VALUE,
                                keys, args.toArray());
            } catch (RuntimeException e) {
                finish(batch, null, e);
                return;
            }
            call.whenComplete((result, error) -> {
                String message = error == null ? "" : String.valueOf(error);
                if (error != null && viaFunction && message.contains("unknown command")) {
                    useFunctions = false; // Redis before 7: no functions, the same script through EVALSHA
                    send(batch, true);
                } else if (error != null && reload && viaFunction && message.contains("Function not found")) {
                    // A restarted Redis or FUNCTION FLUSH: load the library (on every master) and try once more.
                    functions.loadAndReplaceAsync(LIBRARY, LIBRARY_CODE).whenComplete((ok, loadError) -> {
                        if (loadError != null) {
                            finish(batch, null, loadError);
                        } else {
                            send(batch, false);
                        }
                    });
                } else if (error != null && reload && !viaFunction && message.contains("NOSCRIPT")) {
                    script.scriptLoadAsync(SCRIPT).whenComplete((sha, loadError) -> {
                        if (loadError != null) {
                            finish(batch, null, loadError);
                        } else {
                            send(batch, false);
                        }
                    });
                } else {
                    finish(batch, result, error);
                }
            });
        }

        /**
         * Frees the call's place and sends what queued meanwhile first, then answers the batch's callers: waking
         * threads takes a while, and Redis can work on the next call during it.
         */
        private void finish(List<Request> batch, @Nullable String result, @Nullable Throwable error) {
            inFlight.decrementAndGet();
            drain();
            long[] values = null;
            Throwable failure = error != null ? error : result == null ? new IllegalStateException("no answer") : null;
            if (failure == null) {
                try {
                    values = parseLongs(result);
                } catch (NumberFormatException e) {
                    failure = e;
                }
            }
            if (values == null) {
                Throwable e = failure;
                batch.forEach(r -> r.result.completeExceptionally(e));
                return;
            }
            int at = 1;
            for (Request r : batch) {
                int size = 3 + r.costs.length;
                if (at + size > values.length) {
                    r.result.completeExceptionally(new IllegalStateException("short script answer " + result));
                } else {
                    r.result.complete(new Answer(values, at));
                }
                at += size;
            }
        }
    }

    /**
     * One request's part of a script answer: {@code values[at]} granted 0/1, then the wait, the bound index and the
     * remaining units per limit. {@code values[0]} is the time the script decided at.
     */
    private record Answer(long[] values, int at) {
        long now() {
            return values[0];
        }
    }

    private static Decision decode(String op, Policy policy, Answer a) {
        int n = policy.size();
        long[] v = a.values();
        int at = a.at();
        long[] remaining = new long[n];
        System.arraycopy(v, at + 3, remaining, 0, n);
        if (op.equals("r")) {
            return Decision.refunded(policy, remaining);
        }
        if (v[at] == 1) {
            return n == 1 ? Decision.granted(policy, remaining[0]) : Decision.granted(policy, remaining, -1);
        }
        return Decision.rateLimited(policy, v[at + 1], remaining, (int) v[at + 2]);
    }

    /** The 1-based position of {@code value} among {@code list}'s elements from {@code from}, added if absent. */
    private static int indexOf(List<Object> list, String value, int from) {
        for (int i = from; i < list.size(); i++) {
            if (list.get(i).equals(value)) {
                return i - from + 1;
            }
        }
        list.add(value);
        return list.size() - from;
    }

    /**
     * The integers of a script answer, separated by single spaces.
     *
     * @throws NumberFormatException if it holds anything else
     */
    static long[] parseLongs(String s) {
        int count = s.isEmpty() ? 0 : 1;
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == ' ') {
                count++;
            }
        }
        long[] out = new long[count];
        int at = 0;
        for (int k = 0; k < count; k++) {
            int end = s.indexOf(' ', at);
            if (end < 0) {
                end = s.length();
            }
            out[k] = Long.parseLong(s, at, end, 10);
            at = end + 1;
        }
        return out;
    }

    /**
     * The policy as the script reads it: {@code dim:ALG:capacity:periodMicros:burst;} per limit.
     *
     * @throws IllegalArgumentException if a limit's numbers are too large for exact Lua arithmetic
     */
    static String spec(Policy policy) {
        for (Limit l : policy.limits()) {
            long p = l.periodMicros();
            boolean weighs = l.algorithm() == Algorithm.TOKEN_BUCKET || l.algorithm() == Algorithm.GCRA
                    || l.algorithm() == Algorithm.SLIDING_WINDOW_COUNTER;
            long factor = l.algorithm() == Algorithm.SLIDING_WINDOW_COUNTER ? l.capacity() : l.burst();
            if ((weighs && factor > (LUA_EXACT - 1) / p) || l.capacity() >= LUA_EXACT || p >= LUA_EXACT / 4) {
                throw new IllegalArgumentException("limit " + l + " is too large for the Redis backend: "
                        + (l.algorithm() == Algorithm.SLIDING_WINDOW_COUNTER ? "capacity" : "burst")
                        + " × period (µs) must stay below 2^53 for exact arithmetic in Lua");
            }
        }
        return PolicyCodec.spec(policy);
    }

    private static String loadScript() {
        try (InputStream in = RedisBackend.class.getResourceAsStream("limiter.lua")) {
            if (in == null) {
                throw new IllegalStateException("limiter.lua missing from the classpath");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String libraryCode() {
        if (!SCRIPT.endsWith(EVAL_ENTRY)) {
            throw new IllegalStateException("limiter.lua must end with: " + EVAL_ENTRY);
        }
        // Redisson's FUNCTION LOAD writes the "#!lua name=" header itself, on every master.
        return SCRIPT.substring(0, SCRIPT.length() - EVAL_ENTRY.length())
                + "redis.register_function('" + LIBRARY + "', main)\n";
    }

    private static String sha1(String s) {
        return digest("SHA-1", s);
    }

    private static String sha256(String s) {
        return digest("SHA-256", s);
    }

    private static String digest(String algorithm, String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance(algorithm).digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Builds a {@link RedisBackend}. */
    public static final class Builder {
        private final RedissonClient client;
        private final boolean ownsClient;
        private String namespace = "sluice";
        private @Nullable Ticker ticker;
        private Duration timeout = Duration.ofMillis(500);
        private Duration retryInterval = Duration.ofMillis(250);
        private FailurePolicy failurePolicy = FailurePolicy.FAIL_CLOSED;
        private @Nullable LimiterBackend fallback;
        private double fallbackShare = 1.0;
        private boolean redisFunctions = true;
        private int maxCallsInFlight = 2;

        private Builder(RedissonClient client, boolean ownsClient) {
            this.client = client;
            this.ownsClient = ownsClient;
        }

        /**
         * The prefix of every key (default {@code sluice}).
         *
         * @throws IllegalArgumentException unless 1-64 characters of {@code [A-Za-z0-9_.:-]}
         */
        public Builder namespace(String namespace) {
            if (namespace == null || !NAMESPACE.matcher(namespace).matches()) {
                throw new IllegalArgumentException("namespace must be 1-64 characters of [A-Za-z0-9_.:-], was "
                        + namespace);
            }
            this.namespace = namespace;
            return this;
        }

        /** Time from this ticker instead of Redis {@code TIME}: for tests with a manual clock. */
        public Builder ticker(Ticker ticker) {
            this.ticker = Objects.requireNonNull(ticker, "ticker");
            return this;
        }

        /**
         * How long a call may wait for Redis before the failure policy decides (default 500 ms, well inside
         * Redisson's own retry budget).
         *
         * @throws IllegalArgumentException if shorter than 1 ms (it is kept in whole milliseconds)
         */
        public Builder timeout(Duration timeout) {
            if (timeout == null || timeout.compareTo(Duration.ofMillis(1)) < 0) {
                throw new IllegalArgumentException("timeout must be at least 1 ms, was " + timeout);
            }
            this.timeout = timeout;
            return this;
        }

        /**
         * After a failure, how long calls go straight to the failure policy before Redis is tried again
         * (default 250 ms).
         *
         * @throws IllegalArgumentException if negative
         */
        public Builder retryInterval(Duration interval) {
            if (interval == null || interval.isNegative()) {
                throw new IllegalArgumentException("retryInterval must be zero or positive, was " + interval);
            }
            this.retryInterval = interval;
            return this;
        }

        /** What to decide while Redis cannot answer (default {@link FailurePolicy#FAIL_CLOSED}). */
        public Builder failurePolicy(FailurePolicy policy) {
            this.failurePolicy = Objects.requireNonNull(policy, "policy");
            return this;
        }

        /**
         * {@link FailurePolicy#LOCAL_FALLBACK} on {@code local} (for example an in-memory backend), with
         * {@code share} of every limit's capacity and burst (for example 1/N for N instances).
         *
         * @throws IllegalArgumentException unless {@code 0 < share ≤ 1}
         */
        public Builder localFallback(LimiterBackend local, double share) {
            if (!(share > 0 && share <= 1)) {
                throw new IllegalArgumentException("share must be in (0, 1], was " + share);
            }
            this.fallback = Objects.requireNonNull(local, "local");
            this.fallbackShare = share;
            this.failurePolicy = FailurePolicy.LOCAL_FALLBACK;
            return this;
        }

        /**
         * Whether to run the script as a Redis function ({@code FCALL}, Redis 7+; default true) or through
         * {@code EVALSHA}. A function's definitions run once at load rather than at every call, which halves the
         * cost of a small call; on a server without functions the backend falls back to {@code EVALSHA} by itself.
         */
        public Builder redisFunctions(boolean redisFunctions) {
            this.redisFunctions = redisFunctions;
            return this;
        }

        /**
         * How many script calls may be in flight at once per lane (one Redis Cluster slot; every key on a single
         * server), default 2. Requests that arrive while the lane is full queue up and all go in the next call
         * (up to 128 per call), so a request never waits for a timer: it is sent at once when the lane is free,
         * and waits at most for the calls in flight otherwise. Fewer calls in flight make larger batches and less
         * work for client and Redis; more keep Redis busy while the client reads an answer and sends the next. On 2
         * cores, 2 beat 1 and 4 at 4 and 16 threads (see {@code benchmarks/RESULTS.md}); more can help when the
         * round trip is long compared with Redis's work per call, such as across data centres.
         *
         * @throws IllegalArgumentException unless 1-64
         */
        public Builder maxCallsInFlight(int calls) {
            if (calls < 1 || calls > 64) {
                throw new IllegalArgumentException("maxCallsInFlight must be 1-64, was " + calls);
            }
            this.maxCallsInFlight = calls;
            return this;
        }

        /** The backend. */
        public RedisBackend build() {
            return new RedisBackend(this);
        }
    }
}

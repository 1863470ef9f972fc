package dev.sluice.hazelcast;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;
import dev.sluice.api.Ticker;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.core.FailurePolicy;
import dev.sluice.core.OutageDecisions;
import dev.sluice.core.engine.PolicyCodec;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.Future;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Limiter state in a Hazelcast {@link IMap}, shared by every member and client of the cluster. Each acquire or refund
 * is one entry processor on the key's partition owner running the reference {@code PolicyEngine}; the map's backups
 * receive the written bytes. Time is the owner member's clock unless a {@linkplain Builder#ticker ticker} is given
 * (for tests). Entries expire one second after their state comes to rest. If the cluster does not answer within the
 * {@linkplain Builder#timeout timeout}, the {@link FailurePolicy} decides; no Hazelcast exception escapes.
 *
 * <p>Configure the map (default name {@code sluice-limiter}) with {@code backup-count} 1 or more so that a member's
 * loss keeps the counts, and optionally with a split-brain protection (a minimum cluster size): below it the map
 * refuses operations and the failure policy decides, so a lone member never starts counting afresh.
 *
 * <p><b>Client mode</b>: a Hazelcast client works the same way, but the entry processor runs on the members, so the
 * members need {@code limiter-api}, {@code limiter-core} and {@code backend-hazelcast} on their classpath (Hazelcast
 * community edition ships no code to members; put the three jars in the member's {@code lib/} or start embedded
 * members from the application).
 *
 * <p><b>Small machines</b>: Hazelcast's async futures complete on the common fork-join pool, and on 2 cores or fewer
 * that pool has parallelism 1, so the JDK runs each completion on a new thread (about 1 ms each; measured here:
 * 6,000 vs 82,000 acquires/s on one embedded member, 8 threads). There, calls run synchronously on a small pool of
 * daemon threads instead, so that the timeout still holds.
 */
public final class HazelcastBackend implements LimiterBackend {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.:-]{1,128}");

    /**
     * Hazelcast completes async calls on the common fork-join pool; with parallelism 1 (2 cores or fewer) the JDK
     * then starts a new thread for every completion, about 1 ms each.
     */
    private static final boolean ASYNC_COMPLETIONS_ARE_CHEAP = ForkJoinPool.getCommonPoolParallelism() > 1;

    /**
     * Where the synchronous calls run on such machines, so that the caller can still give up after its timeout:
     * threads made on demand (one per concurrent caller at most 256), daemon, dropped after a minute idle; when all
     * are busy the failure policy decides.
     */
    private static final ExecutorService CALLS = new ThreadPoolExecutor(0, 256, 60, TimeUnit.SECONDS,
            new SynchronousQueue<>(), r -> {
                Thread t = new Thread(r, "sluice-hazelcast-call");
                t.setDaemon(true);
                return t;
            });

    private final IMap<String, byte[]> map;
    private final @Nullable Ticker ticker;
    private final long timeoutMillis;
    private final OutageDecisions outage;
    private final AtomicLong degraded = new AtomicLong();
    private final Map<Policy, String> specs = new ConcurrentHashMap<>();

    private HazelcastBackend(Builder b) {
        this.map = b.instance.getMap(b.mapName);
        this.ticker = b.ticker;
        this.timeoutMillis = b.timeout.toMillis();
        this.outage = b.outage;
    }

    /** A builder on {@code instance}, an embedded member or a client, which stays the caller's. */
    public static Builder builder(HazelcastInstance instance) {
        return new Builder(Objects.requireNonNull(instance, "instance"));
    }

    @Override
    public Decision acquire(String key, Policy policy, Cost cost) {
        return call(true, key, policy, cost);
    }

    @Override
    public Decision refund(String key, Policy policy, Cost cost) {
        return call(false, key, policy, cost);
    }

    @Override
    public long liveKeys() {
        return map.size();
    }

    /** How many decisions the failure policy took because the cluster did not answer. */
    public long degradedDecisions() {
        return degraded.get();
    }

    /** Nothing to release: the instance is the caller's. */
    @Override
    public void close() {
    }

    private Decision call(boolean acquire, String key, Policy policy, Cost cost) {
        long now = ticker == null ? LimiterProcessor.MEMBER_CLOCK : ticker.nowMicros();
        LimiterProcessor processor = new LimiterProcessor(acquire, specs.computeIfAbsent(policy, PolicyCodec::spec),
                cost, now);
        try {
            Future<long[]> call = ASYNC_COMPLETIONS_ARE_CHEAP
                    ? map.submitToKey(key, processor).toCompletableFuture()
                    : CALLS.submit(() -> map.executeOnKey(key, processor));
            long[] r = call.get(timeoutMillis, TimeUnit.MILLISECONDS);
            return decode(policy, r);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            // the failure policy decides below
        }
        degraded.incrementAndGet();
        return acquire ? outage.acquire(key, policy, cost) : outage.refund(key, policy, cost);
    }

    private static Decision decode(Policy policy, long[] r) {
        int n = policy.size();
        long[] remaining = new long[n];
        System.arraycopy(r, 5, remaining, 0, n);
        Decision.Reason reason = Decision.Reason.values()[(int) r[1]];
        return switch (reason) {
            case GRANTED -> n == 1 ? Decision.granted(policy, remaining[0]) : Decision.granted(policy, remaining, -1);
            case REFUNDED -> Decision.refunded(policy, remaining);
            case RATE_LIMITED -> Decision.rateLimited(policy, r[2], remaining, (int) r[3]);
            default -> throw new IllegalStateException("unexpected reason from the member: " + reason);
        };
    }

    /** Builds a {@link HazelcastBackend}. */
    public static final class Builder {
        private final HazelcastInstance instance;
        private String mapName = "sluice-limiter";
        private @Nullable Ticker ticker;
        private Duration timeout = Duration.ofMillis(500);
        private OutageDecisions outage = OutageDecisions.failClosed(250_000);

        private Builder(HazelcastInstance instance) {
            this.instance = instance;
        }

        /**
         * The map holding the state (default {@code sluice-limiter}).
         *
         * @throws IllegalArgumentException unless 1-128 characters of {@code [A-Za-z0-9_.:-]}
         */
        public Builder mapName(String name) {
            if (name == null || !NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("map name must be 1-128 characters of [A-Za-z0-9_.:-], was " + name);
            }
            this.mapName = name;
            return this;
        }

        /** Time from this ticker instead of the owner member's clock: for tests with a manual clock. */
        public Builder ticker(Ticker ticker) {
            this.ticker = Objects.requireNonNull(ticker, "ticker");
            return this;
        }

        /**
         * How long a call may wait for the cluster before the failure policy decides (default 500 ms).
         *
         * @throws IllegalArgumentException unless positive
         */
        public Builder timeout(Duration timeout) {
            if (timeout == null || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("timeout must be positive, was " + timeout);
            }
            this.timeout = timeout;
            return this;
        }

        /** What to decide while the cluster cannot answer (default fail closed). */
        public Builder outage(OutageDecisions outage) {
            this.outage = Objects.requireNonNull(outage, "outage");
            return this;
        }

        /** The backend. */
        public HazelcastBackend build() {
            return new HazelcastBackend(this);
        }
    }
}

package dev.sluice.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.cache.CacheAnswer.Source;
import dev.sluice.cache.internal.CacheCounters;
import dev.sluice.cache.internal.Envelope;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Answers repeated LLM requests from a {@link CacheStore} instead of the provider, and makes concurrent identical
 * requests share one upstream call.
 *
 * <p><b>Use it in front of the limiter.</b> {@link #call(CacheRequest, Upstream)} looks the request up first and runs
 * the {@link Upstream} only on a miss; the upstream is where the caller acquires from its rate limiter and calls the
 * provider. So a hit, and a call coalesced into another's, consume no quota:
 *
 * <pre>{@code
 * CacheAnswer a = cache.call(request, () -> {
 *     limiter.acquire(tenantKey, cost, maxWait);   // quota only on a miss
 *     return provider.send(body);
 * });
 * }</pre>
 *
 * <p><b>What is cached</b> is the {@link CachePolicy}'s decision (deterministic requests, complete 200 answers, a
 * time to live per model or route); the key is {@link CacheKeys}' SHA-256 of the canonical request, the tenant a hash
 * of the credential.
 *
 * <p><b>Single-flight.</b> On one instance, identical requests that miss while one is in flight wait for it and share
 * its outcome (its answer, or its exception; not its caller's interruption: then they try again). Across instances the
 * store coordinates: the first instance puts a short-lived <em>in-flight marker</em> ({@code putIfAbsent} with a
 * {@linkplain Builder#inFlightTtl time to live} that it renews while its call runs), calls upstream, stores the
 * answer, then releases its marker ({@code removeIfEquals}). Other instances that find the marker poll the store for
 * the answer with a bounded exponential backoff (from {@linkplain Builder#pollInterval 10 ms, doubling to 250 ms},
 * jittered), one poller per instance and key however many callers wait there. When the answer appears they return it.
 * A leader whose call failed or whose answer was not storable leaves a short-lived tombstone in the answer's place:
 * its followers then call upstream at once, rather than lead one after another. When the marker is gone with neither
 * (the leader crashed and its marker expired) one of them takes the lead. A follower waits at most {@linkplain
 * Builder#maxWait a bound} (5 minutes), then calls upstream itself. Polling rather than Redis pub/sub keeps the coordination on the {@link
 * CacheStore} contract alone, so it works alike on Redis, Hazelcast and any other store, costs no extra connection or
 * subscription, and cannot miss a notification that fires between a miss and a subscribe; the price is up to one poll
 * interval of extra latency on followers, small beside an LLM call.
 *
 * <p><b>Two levels.</b> An optional {@linkplain Builder#nearCache near cache} (Caffeine, bounded in bytes, short time
 * to live) answers hot keys without a round trip to the shared store. Another instance's refresh reaches it only when
 * the near entry expires.
 *
 * <p><b>Failures</b> of the store never fail a call: a failed lookup is a miss, a failed write is skipped, a failed
 * marker means going upstream uncoordinated; each is counted in {@link CacheStats#errors()}.
 */
public final class ResponseCache implements AutoCloseable {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,32}");

    private final String name;
    private final CacheStore store;
    private final CachePolicy policy;
    private final CacheKeys keys;
    private final @Nullable Cache<String, Envelope> near;
    private final long nearTtlMillis;
    private final boolean acrossInstances;
    private final Duration inFlightTtl;
    private final long maxWaitNanos;
    private final long pollMinNanos;
    private final long pollMaxNanos;
    /** How long a tombstone lives: every follower polls within it (polls are at most {@code pollMax} apart). */
    private final Duration tombstoneTtl;
    private final Clock clock;
    private final ConcurrentHashMap<String, CompletableFuture<LlmResponse>> flights = new ConcurrentHashMap<>();
    private @Nullable ScheduledThreadPoolExecutor heartbeats;
    private boolean closed; // guarded by this
    final CacheCounters counters = new CacheCounters();

    private ResponseCache(Builder b) {
        this.name = b.name;
        this.store = b.store;
        this.policy = b.policy;
        this.keys = b.keys;
        this.acrossInstances = b.acrossInstances;
        this.inFlightTtl = b.inFlightTtl;
        this.maxWaitNanos = b.maxWait.toNanos();
        this.pollMinNanos = b.pollMin.toNanos();
        this.pollMaxNanos = b.pollMax.toNanos();
        this.tombstoneTtl = Duration.ofNanos(Math.max(TimeUnit.SECONDS.toNanos(1), 4 * pollMaxNanos));
        this.clock = b.clock;
        this.nearTtlMillis = b.nearTtl.toMillis();
        if (b.nearBytes > 0) {
            CacheCounters c = counters;
            this.near = Caffeine.newBuilder()
                    .maximumWeight(b.nearBytes)
                    .weigher((String k, Envelope e) -> 160 + e.response().body().length)
                    .expireAfterWrite(b.nearTtl)
                    .removalListener((String k, Envelope e, RemovalCause cause) -> {
                        if (cause.wasEvicted()) {
                            c.nearEvictions.increment();
                        }
                    })
                    .build();
        } else {
            this.near = null;
        }
    }

    /** A builder on {@code store}. */
    public static Builder builder(CacheStore store) {
        return new Builder(store);
    }

    /** The cache's name, as in its store keys and metric tags. */
    public String name() {
        return name;
    }

    /** The shared store this cache reads and writes. */
    public CacheStore store() {
        return store;
    }

    /** The key of {@code request} (64 hex digits), as {@link CacheKeys} computes it. */
    public String key(CacheRequest request) {
        return keys.key(request);
    }

    /** Counts so far. */
    public CacheStats stats() {
        return counters.snapshot(nearBytes());
    }

    long nearBytes() {
        Cache<String, Envelope> n = near;
        if (n == null) {
            return 0;
        }
        n.cleanUp(); // Caffeine applies writes to its weights asynchronously; read them settled
        return n.policy().eviction().map(e -> e.weightedSize().orElse(0)).orElse(0L);
    }

    /**
     * The answer to {@code request}: from the near cache or the store, from a concurrent identical call, or from
     * {@code upstream}, whose answer is then stored if the policy allows. The upstream runs on the calling thread.
     *
     * @throws Exception what the upstream threw, in this call or in the call this one was coalesced into
     */
    public CacheAnswer call(CacheRequest request, Upstream upstream) throws Exception {
        Objects.requireNonNull(upstream, "upstream");
        Plan p = plan(request);
        if (p.mode != Mode.LOOKUP && p.mode != Mode.REFRESH) {
            counters.bypassed(p.mode.ordinal());
            return new CacheAnswer(checked(upstream.call()), Source.BYPASSED);
        }
        if (p.mode == Mode.LOOKUP) {
            CacheAnswer hit = nearLookup(p);
            if (hit == null) {
                Envelope e = readStore(p);
                hit = answer(e) ? found(p, e, Source.HIT) : null;
            }
            if (hit != null) {
                return hit;
            }
            counters.misses.increment();
        } else {
            counters.refreshes.increment();
        }
        while (true) {
            CompletableFuture<LlmResponse> mine = new CompletableFuture<>();
            CompletableFuture<LlmResponse> leader = flights.putIfAbsent(p.key, mine);
            if (leader != null) {
                boolean again = false;
                try {
                    return new CacheAnswer(await(leader), Source.COALESCED);
                } catch (LeaderInterrupted e) {
                    again = true;
                    continue; // the leader's interruption is not ours: one of its followers leads now
                } finally {
                    if (!again) { // counted once it shared the call: a follower that leads anew shared nothing
                        counters.coalescedLocal.increment();
                    }
                }
            }
            try {
                CacheAnswer a = lead(p, upstream);
                mine.complete(a.response());
                return a;
            } catch (Throwable t) {
                if (t instanceof InterruptedException || Thread.currentThread().isInterrupted()) {
                    flights.remove(p.key, mine); // first, so that no retrying follower finds this flight again
                    mine.completeExceptionally(LeaderInterrupted.INSTANCE);
                } else {
                    mine.completeExceptionally(t);
                }
                throw t;
            } finally {
                flights.remove(p.key, mine);
            }
        }
    }

    /**
     * As {@link #call(CacheRequest, Upstream)} without blocking: store operations use the store's asynchronous forms,
     * waits for another instance's call are scheduled, not slept. The upstream may run on a store's or the common
     * pool's thread and must not block.
     */
    public CompletionStage<CacheAnswer> callAsync(CacheRequest request, AsyncUpstream upstream) {
        Plan p;
        try {
            Objects.requireNonNull(upstream, "upstream");
            p = plan(request);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        if (p.mode != Mode.LOOKUP && p.mode != Mode.REFRESH) {
            counters.bypassed(p.mode.ordinal());
            return invoke(upstream).thenApply(r -> new CacheAnswer(r, Source.BYPASSED));
        }
        CompletionStage<@Nullable CacheAnswer> first;
        if (p.mode == Mode.LOOKUP) {
            CacheAnswer hit = nearLookup(p);
            if (hit != null) {
                return CompletableFuture.completedFuture(hit);
            }
            first = readStoreAsync(p).thenApply(e -> answer(e) ? found(p, e, Source.HIT) : null);
        } else {
            first = CompletableFuture.completedFuture(null);
        }
        return first.thenCompose(hit -> {
            if (hit != null) {
                return CompletableFuture.completedFuture(hit);
            }
            (p.mode == Mode.LOOKUP ? counters.misses : counters.refreshes).increment();
            return flightAsync(p, upstream);
        });
    }

    /** Leads {@code p}'s flight on this instance, or joins the one in flight (anew if its leader was interrupted). */
    private CompletionStage<CacheAnswer> flightAsync(Plan p, AsyncUpstream upstream) {
        CompletableFuture<LlmResponse> mine = new CompletableFuture<>();
        CompletableFuture<LlmResponse> leader = flights.putIfAbsent(p.key, mine);
        if (leader != null) {
            return leader.handle((r, t) -> {
                if (t != null && unwrap(t) instanceof LeaderInterrupted) {
                    return flightAsync(p, upstream); // it shared nothing: counted where it ends
                }
                counters.coalescedLocal.increment();
                return t == null ? CompletableFuture.completedFuture(new CacheAnswer(r, Source.COALESCED))
                        : CompletableFuture.<CacheAnswer>failedFuture(unwrap(t));
            }).thenCompose(s -> s);
        }
        CompletionStage<CacheAnswer> led;
        try {
            led = leadAsync(p, upstream);
        } catch (RuntimeException e) {
            led = CompletableFuture.failedFuture(e);
        }
        return led.whenComplete((a, t) -> {
            flights.remove(p.key, mine);
            if (t != null) {
                mine.completeExceptionally(unwrap(t));
            } else {
                mine.complete(a.response());
            }
        });
    }

    /**
     * What a blocking leader interrupted by its own caller hands its local followers instead of the interruption,
     * which is not theirs: they try again, and one of them leads.
     */
    private static final class LeaderInterrupted extends RuntimeException {
        private static final long serialVersionUID = 1L;
        static final LeaderInterrupted INSTANCE = new LeaderInterrupted();

        private LeaderInterrupted() {
            super("the leading call was interrupted", null, false, false);
        }
    }

    /** Removes {@code request}'s stored answer, here and in the store (other instances' near caches keep theirs). */
    public void invalidate(CacheRequest request) {
        String key = keys.key(request);
        if (near != null) {
            near.invalidate(key);
        }
        store.remove(entryKey(key));
    }

    /**
     * Drops the near cache. Leaders in flight keep renewing their markers until they finish, so that another instance
     * does not take over a call still running (a gateway swaps its cache on a settings reload); no renewal starts
     * after this, and the renewal thread ends with the last. The store is the caller's.
     */
    @Override
    public void close() {
        if (near != null) {
            near.invalidateAll();
        }
        synchronized (this) {
            closed = true;
            if (heartbeats != null) {
                heartbeats.shutdown();
            }
        }
    }

    // ---------------------------------------------------------------- planning and lookups

    /** How one call uses the cache; the bypass reasons are in the order of the metric's tags. */
    enum Mode {
        BYPASS_CALLER, BYPASS_POLICY, BYPASS_TTL, LOOKUP, REFRESH
    }

    private record Plan(String key, Mode mode, Duration ttl) {
    }

    private Plan plan(CacheRequest request) {
        Objects.requireNonNull(request, "request");
        CallOptions o = request.options();
        if (o.bypass()) {
            return new Plan("", Mode.BYPASS_CALLER, Duration.ZERO);
        }
        if (!policy.admits(request)) {
            return new Plan("", Mode.BYPASS_POLICY, Duration.ZERO);
        }
        Duration ttl = policy.ttl(request);
        if (ttl.isZero()) {
            return new Plan("", Mode.BYPASS_TTL, Duration.ZERO);
        }
        return new Plan(keys.key(request), o.refresh() ? Mode.REFRESH : Mode.LOOKUP, ttl);
    }

    private String entryKey(String key) {
        return name + ":r:" + key;
    }

    private String markerKey(String key) {
        return name + ":f:" + key;
    }

    private @Nullable CacheAnswer nearLookup(Plan p) {
        Cache<String, Envelope> n = near;
        if (n == null) {
            return null;
        }
        Envelope e = n.getIfPresent(p.key);
        if (e == null) {
            return null;
        }
        if (e.expiresAtMillis() <= clock.millis()) {
            n.invalidate(p.key);
            return null;
        }
        counters.nearHits.increment();
        return new CacheAnswer(e.response(), Source.NEAR_HIT);
    }

    /** Counts a store read that found {@code e}, keeps it near, and answers it as {@code source}. */
    private CacheAnswer found(Plan p, Envelope e, Source source) {
        if (source == Source.HIT) {
            counters.hits.increment();
        } else {
            counters.coalescedShared.increment();
        }
        keepNear(p.key, e);
        return new CacheAnswer(e.response(), source);
    }

    private void keepNear(String key, Envelope e) {
        if (near != null && nearTtlMillis > 0) {
            near.put(key, e);
        }
    }

    /**
     * What a read of the store found in place of an answer when the last flight on the key stored none: a tombstone
     * ({@link Envelope#tombstone()}). Compared by identity; never handed out.
     */
    private static final Envelope NOTHING_STORED = new Envelope(0, 0, new LlmResponse(0, "", new byte[0]));

    /** The stored answer, {@link #NOTHING_STORED} for a tombstone, or null. */
    private @Nullable Envelope readStore(Plan p) {
        byte[] bytes;
        try {
            bytes = store.get(entryKey(p.key));
        } catch (RuntimeException e) {
            counters.errors.increment();
            return null;
        }
        return decode(bytes);
    }

    private static @Nullable Envelope decode(byte @Nullable [] bytes) {
        if (bytes == null) {
            return null;
        }
        return Envelope.isTombstone(bytes) ? NOTHING_STORED : Envelope.decode(bytes);
    }

    /** An answer in {@code e}: not null, not a tombstone. */
    private static boolean answer(@Nullable Envelope e) {
        return e != null && e != NOTHING_STORED;
    }

    private CompletionStage<@Nullable Envelope> readStoreAsync(Plan p) {
        try {
            return store.getAsync(entryKey(p.key)).handle((bytes, t) -> {
                if (t != null) {
                    counters.errors.increment();
                    return null;
                }
                return decode(bytes);
            });
        } catch (RuntimeException e) {
            counters.errors.increment();
            return CompletableFuture.completedFuture(null);
        }
    }

    // ---------------------------------------------------------------- leading (blocking)

    private CacheAnswer lead(Plan p, Upstream upstream) throws Exception {
        if (p.mode == Mode.REFRESH) {
            return callAndStore(p, upstream, Source.REFRESHED);
        }
        if (!acrossInstances) {
            Envelope e = readStore(p); // a call that finished between our miss and our flight
            return answer(e) ? found(p, e, Source.COALESCED) : callAndStore(p, upstream, Source.MISS);
        }
        byte[] marker = newMarker();
        long deadline = System.nanoTime() + maxWaitNanos;
        long pause = pollMinNanos;
        while (true) {
            Mark m = mark(p, marker);
            if (m == Mark.FAILED) {
                return callAndStore(p, upstream, Source.MISS); // no coordination without the store
            }
            if (m == Mark.WON) {
                Heartbeat heartbeat = new Heartbeat(markerKey(p.key), marker);
                try {
                    // The previous leader stores before it releases: if it finished after our miss, its answer is here.
                    Envelope e = readStore(p);
                    if (answer(e)) {
                        return found(p, e, Source.COALESCED);
                    }
                    if (e == NOTHING_STORED) {
                        removeTombstone(p); // it was for the previous flight's followers, not for ours
                    }
                    return leadCall(p, upstream);
                } finally {
                    awaitQuietly(heartbeat.stop());
                    release(p, marker);
                }
            }
            if (System.nanoTime() - deadline > 0) {
                counters.waitTimeouts.increment();
                return callAndStore(p, upstream, Source.MISS);
            }
            TimeUnit.NANOSECONDS.sleep(jitter(pause));
            pause = Math.min(pause * 2, pollMaxNanos);
            Envelope e = readStore(p);
            if (e == NOTHING_STORED) {
                return callAndStore(p, upstream, Source.MISS); // the flight we waited on stored nothing
            }
            if (e != null) {
                return found(p, e, Source.COALESCED);
            }
        }
    }

    /** The outcome of putting an in-flight marker: a failed one leads nothing, so it needs no renewal or release. */
    private enum Mark {
        WON, LOST, FAILED
    }

    private Mark mark(Plan p, byte[] marker) {
        try {
            return store.putIfAbsent(markerKey(p.key), marker, inFlightTtl) ? Mark.WON : Mark.LOST;
        } catch (RuntimeException e) {
            counters.errors.increment();
            return Mark.FAILED;
        }
    }

    private void release(Plan p, byte[] marker) {
        // A store client may refuse to work on an interrupted thread; an interrupted leader must release all the same.
        boolean interrupted = Thread.interrupted();
        try {
            store.removeIfEquals(markerKey(p.key), marker);
        } catch (RuntimeException e) {
            counters.errors.increment(); // it expires by itself
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private CacheAnswer callAndStore(Plan p, Upstream upstream, Source source) throws Exception {
        LlmResponse r = checked(upstream.call());
        store(p, r);
        return new CacheAnswer(r, source);
    }

    /** Stores {@code r} if the policy allows; whether it was stored. */
    private boolean store(Plan p, LlmResponse r) {
        byte[] value = storable(p, r);
        if (value == null) {
            return false;
        }
        try {
            store.put(entryKey(p.key), value, p.ttl);
            counters.stored(value.length);
            return true;
        } catch (RuntimeException e) {
            counters.errors.increment();
            return false;
        }
    }

    /**
     * A leader's call across instances: as {@link #callAndStore}, but if no answer is stored (the policy refused it,
     * the store failed, or the upstream threw) a tombstone takes its place, before the marker is released.
     */
    private CacheAnswer leadCall(Plan p, Upstream upstream) throws Exception {
        LlmResponse r;
        try {
            r = checked(upstream.call());
        } catch (Exception | Error e) {
            if (!(e instanceof InterruptedException) && !Thread.currentThread().isInterrupted()) {
                putTombstone(p); // an interrupted caller is not a failed call: its followers lead in turn
            }
            throw e;
        }
        if (!store(p, r)) {
            putTombstone(p);
        }
        return new CacheAnswer(r, Source.MISS);
    }

    private void putTombstone(Plan p) {
        boolean interrupted = Thread.interrupted(); // as in release: an interrupted leader writes all the same
        try {
            store.putIfAbsent(entryKey(p.key), Envelope.tombstone(), tombstoneTtl); // never over an answer
        } catch (RuntimeException e) {
            counters.errors.increment(); // its followers lead in turn, as without tombstones
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void removeTombstone(Plan p) {
        try {
            store.removeIfEquals(entryKey(p.key), Envelope.tombstone());
        } catch (RuntimeException e) {
            counters.errors.increment(); // some of our followers go upstream uncoordinated until it expires
        }
    }

    /** The bytes to store for {@code r} (also kept near), or null if the policy refuses it (counted). */
    private byte @Nullable [] storable(Plan p, LlmResponse r) {
        CachePolicy.Verdict v = policy.verdict(r);
        if (v != CachePolicy.Verdict.STORE) {
            counters.notStored(v);
            return null;
        }
        long now = clock.millis();
        long ttlMillis = p.ttl.toMillis();
        long expires = now + Math.min(ttlMillis, Long.MAX_VALUE / 4);
        Envelope e = new Envelope(now, expires, r);
        keepNear(p.key, e);
        return e.encode();
    }

    // ---------------------------------------------------------------- leading (asynchronous)

    private CompletionStage<CacheAnswer> leadAsync(Plan p, AsyncUpstream upstream) {
        if (p.mode == Mode.REFRESH) {
            return callAndStoreAsync(p, upstream, Source.REFRESHED);
        }
        if (!acrossInstances) {
            return readStoreAsync(p).thenCompose(e -> answer(e)
                    ? CompletableFuture.completedFuture(found(p, e, Source.COALESCED))
                    : callAndStoreAsync(p, upstream, Source.MISS));
        }
        return attemptAsync(p, upstream, newMarker(), System.nanoTime() + maxWaitNanos, pollMinNanos);
    }

    private CompletionStage<CacheAnswer> attemptAsync(Plan p, AsyncUpstream upstream, byte[] marker, long deadline,
            long pause) {
        return markAsync(p, marker).thenCompose(m -> {
            if (m == Mark.FAILED) {
                return callAndStoreAsync(p, upstream, Source.MISS); // no coordination without the store
            }
            if (m == Mark.WON) {
                Heartbeat heartbeat = new Heartbeat(markerKey(p.key), marker);
                CompletionStage<CacheAnswer> led = readStoreAsync(p).thenCompose(e -> {
                    if (answer(e)) {
                        return CompletableFuture.completedFuture(found(p, e, Source.COALESCED));
                    }
                    // a tombstone was for the previous flight's followers, not for ours
                    return (e == NOTHING_STORED ? removeTombstoneAsync(p) : CompletableFuture.<Void>completedFuture(
                            null)).thenCompose(x -> leadCallAsync(p, upstream));
                });
                return releasing(p, marker, heartbeat, led);
            }
            if (System.nanoTime() - deadline > 0) {
                counters.waitTimeouts.increment();
                return callAndStoreAsync(p, upstream, Source.MISS);
            }
            return CompletableFuture.runAsync(() -> { },
                            CompletableFuture.delayedExecutor(jitter(pause), TimeUnit.NANOSECONDS))
                    .thenCompose(x -> readStoreAsync(p))
                    .thenCompose(e -> e == NOTHING_STORED
                            ? callAndStoreAsync(p, upstream, Source.MISS) // the flight we waited on stored nothing
                            : e != null
                            ? CompletableFuture.completedFuture(found(p, e, Source.COALESCED))
                            : attemptAsync(p, upstream, marker, deadline, Math.min(pause * 2, pollMaxNanos)));
        });
    }

    private CompletionStage<Mark> markAsync(Plan p, byte[] marker) {
        try {
            return store.putIfAbsentAsync(markerKey(p.key), marker, inFlightTtl).handle((won, t) -> {
                if (t != null) {
                    counters.errors.increment();
                    return Mark.FAILED;
                }
                return Boolean.TRUE.equals(won) ? Mark.WON : Mark.LOST;
            });
        } catch (RuntimeException e) {
            counters.errors.increment();
            return CompletableFuture.completedFuture(Mark.FAILED);
        }
    }

    /** {@code led}'s outcome, once the marker is released (after the answer was stored). */
    private CompletionStage<CacheAnswer> releasing(Plan p, byte[] marker, Heartbeat heartbeat,
            CompletionStage<CacheAnswer> led) {
        CompletableFuture<CacheAnswer> result = new CompletableFuture<>();
        led.whenComplete((a, t) -> heartbeat.stop().thenCompose(quiet -> {
            try {
                return store.removeIfEqualsAsync(markerKey(p.key), marker);
            } catch (RuntimeException e) {
                return CompletableFuture.<Boolean>failedFuture(e);
            }
        }).whenComplete((x, releaseFailure) -> {
            if (releaseFailure != null) {
                counters.errors.increment();
            }
            if (t != null) {
                result.completeExceptionally(unwrap(t));
            } else {
                result.complete(a);
            }
        }));
        return result;
    }

    private CompletionStage<CacheAnswer> callAndStoreAsync(Plan p, AsyncUpstream upstream, Source source) {
        return invoke(upstream).thenCompose(r -> storeAsync(p, r).thenApply(stored -> new CacheAnswer(r, source)));
    }

    /** Stores {@code r} if the policy allows; whether it was stored. */
    private CompletionStage<Boolean> storeAsync(Plan p, LlmResponse r) {
        byte[] value = storable(p, r);
        if (value == null) {
            return CompletableFuture.completedFuture(false);
        }
        CompletionStage<Void> put;
        try {
            put = store.putAsync(entryKey(p.key), value, p.ttl);
        } catch (RuntimeException e) {
            put = CompletableFuture.failedFuture(e);
        }
        return put.handle((x, t) -> {
            if (t != null) {
                counters.errors.increment();
                return false;
            }
            counters.stored(value.length);
            return true;
        });
    }

    /** {@link #leadCall} without blocking. */
    private CompletionStage<CacheAnswer> leadCallAsync(Plan p, AsyncUpstream upstream) {
        CompletableFuture<CacheAnswer> out = new CompletableFuture<>();
        invoke(upstream).whenComplete((r, t) -> {
            try {
                if (t != null) {
                    putTombstoneAsync(p).whenComplete((x, y) -> out.completeExceptionally(unwrap(t)));
                    return;
                }
                storeAsync(p, r).thenCompose(stored -> stored ? CompletableFuture.<Void>completedFuture(null)
                        : putTombstoneAsync(p)).whenComplete((x, y) -> out.complete(new CacheAnswer(r, Source.MISS)));
            } catch (RuntimeException | Error e) { // never leave the flight, its marker and its followers hanging
                out.completeExceptionally(e);
            }
        });
        return out;
    }

    /** {@link #putTombstone} without blocking; never fails. */
    private CompletionStage<Void> putTombstoneAsync(Plan p) {
        return quietly(() -> store.putIfAbsentAsync(entryKey(p.key), Envelope.tombstone(), tombstoneTtl));
    }

    /** {@link #removeTombstone} without blocking; never fails. */
    private CompletionStage<Void> removeTombstoneAsync(Plan p) {
        return quietly(() -> store.removeIfEqualsAsync(entryKey(p.key), Envelope.tombstone()));
    }

    /** A store operation whose failure is only counted. */
    private CompletionStage<Void> quietly(Supplier<CompletionStage<?>> op) {
        try {
            return op.get().handle((x, t) -> {
                if (t != null) {
                    counters.errors.increment();
                }
                return null;
            });
        } catch (RuntimeException e) {
            counters.errors.increment();
            return CompletableFuture.completedFuture(null);
        }
    }

    /**
     * Renews a leader's marker every third of its time to live while the leader's call runs, so a long call (a long
     * limiter wait included) keeps its lead, while a crashed leader's marker still expires within one time to live.
     * A renewal only extends the marker if it is still this leader's ({@link CacheStore#renewIfEquals}): one that
     * expired (a long pause) and was taken by another instance stays theirs, and the renewals stop. Renewals start on
     * one daemon thread per cache and use the store's asynchronous form, one at a time; no lock is held across a store
     * call, so {@link #stop} never waits for the store (it may be called on an event loop).
     */
    private final class Heartbeat implements Runnable {
        private final String key;
        private final byte[] marker;
        private final @Nullable ScheduledFuture<?> task;
        private boolean stopped;
        private CompletableFuture<@Nullable Void> renewal = CompletableFuture.completedFuture(null);

        Heartbeat(String key, byte[] marker) {
            this.key = key;
            this.marker = marker;
            long period = Math.max(1, inFlightTtl.toNanos() / 3);
            ScheduledFuture<?> t;
            try {
                t = heartbeats().scheduleWithFixedDelay(this, period, period, TimeUnit.NANOSECONDS);
            } catch (RejectedExecutionException e) {
                t = null; // closed: the marker simply expires
            }
            this.task = t;
        }

        @Override
        public void run() {
            CompletableFuture<@Nullable Void> done = new CompletableFuture<>();
            synchronized (this) {
                if (stopped || !renewal.isDone()) {
                    return; // stopped, or the last renewal is still on its way: no pile-up on a slow store
                }
                renewal = done;
            }
            CompletionStage<Boolean> renewed;
            try {
                renewed = store.renewIfEqualsAsync(key, marker, inFlightTtl);
            } catch (RuntimeException e) {
                renewed = CompletableFuture.failedFuture(e);
            }
            renewed.whenComplete((mine, t) -> {
                if (t != null) {
                    counters.errors.increment();
                } else if (!Boolean.TRUE.equals(mine) && task != null) {
                    task.cancel(false); // the marker is gone or another's: nothing of ours left to renew
                }
                done.complete(null);
            });
        }

        /** Stops the renewals; the stage completes once none is in flight, so a release made after it is final. */
        CompletionStage<@Nullable Void> stop() {
            CompletableFuture<@Nullable Void> last;
            synchronized (this) {
                stopped = true;
                last = renewal;
            }
            if (task != null) {
                task.cancel(false);
            }
            return last;
        }
    }

    private synchronized ScheduledThreadPoolExecutor heartbeats() {
        if (closed) {
            throw new RejectedExecutionException("cache " + name + " is closed");
        }
        if (heartbeats == null) {
            ScheduledThreadPoolExecutor e = new ScheduledThreadPoolExecutor(1, r -> {
                Thread t = new Thread(r, "sluice-cache-" + name + "-markers");
                t.setDaemon(true);
                return t;
            });
            e.setRemoveOnCancelPolicy(true);
            e.setContinueExistingPeriodicTasksAfterShutdownPolicy(true); // see close()
            heartbeats = e;
        }
        return heartbeats;
    }

    // ---------------------------------------------------------------- helpers

    private static CompletionStage<LlmResponse> invoke(AsyncUpstream upstream) {
        try {
            CompletionStage<LlmResponse> s = upstream.call();
            if (s == null) {
                return CompletableFuture.failedFuture(new NullPointerException("upstream returned no stage"));
            }
            return s.thenApply(ResponseCache::checked);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private static LlmResponse checked(@Nullable LlmResponse r) {
        return Objects.requireNonNull(r, "upstream answered null");
    }

    private static LlmResponse await(CompletableFuture<LlmResponse> leader) throws Exception {
        try {
            return leader.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof Exception ex) {
                throw ex;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }

    /** Waits for {@code stage} on a blocking caller, keeping an interrupt for later rather than failing on it. */
    private static void awaitQuietly(CompletionStage<?> stage) {
        boolean interrupted = false;
        while (true) {
            try {
                stage.toCompletableFuture().get();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            } catch (ExecutionException e) {
                break;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static Throwable unwrap(Throwable t) {
        return t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
    }

    private static byte[] newMarker() {
        return ("in-flight " + UUID.randomUUID()).getBytes(StandardCharsets.US_ASCII);
    }

    /** Between half and all of {@code pause}, so followers on many instances do not poll in step. */
    private static long jitter(long pause) {
        return pause / 2 + ThreadLocalRandom.current().nextLong(pause / 2 + 1);
    }

    /** Builds a {@link ResponseCache}. */
    public static final class Builder {
        private final CacheStore store;
        private String name = "llm";
        private CachePolicy policy = CachePolicy.standard();
        private CacheKeys keys = CacheKeys.standard();
        private long nearBytes;
        private Duration nearTtl = Duration.ofSeconds(10);
        private boolean acrossInstances = true;
        private Duration inFlightTtl = Duration.ofSeconds(10);
        private Duration maxWait = Duration.ofMinutes(5);
        private Duration pollMin = Duration.ofMillis(10);
        private Duration pollMax = Duration.ofMillis(250);
        private Clock clock = Clock.systemUTC();

        private Builder(CacheStore store) {
            this.store = Objects.requireNonNull(store, "store");
        }

        /**
         * The name (default {@code llm}): the prefix of its store keys and its metric tag. Caches sharing a store and
         * a name share entries.
         *
         * @throws IllegalArgumentException unless 1-32 characters of {@code [A-Za-z0-9_.-]}
         */
        public Builder name(String name) {
            if (name == null || !NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("name must be 1-32 characters of [A-Za-z0-9_.-], was " + name);
            }
            this.name = name;
            return this;
        }

        /** What may be cached and for how long (default {@link CachePolicy#standard()}). */
        public Builder policy(CachePolicy policy) {
            this.policy = Objects.requireNonNull(policy, "policy");
            return this;
        }

        /** How requests become keys (default {@link CacheKeys#standard()}). */
        public Builder keys(CacheKeys keys) {
            this.keys = Objects.requireNonNull(keys, "keys");
            return this;
        }

        /**
         * An in-process near cache of up to about {@code maxBytes} of answers, each kept for at most {@code ttl} (and
         * never past its own expiry); off by default.
         *
         * @throws IllegalArgumentException unless both are positive
         */
        public Builder nearCache(long maxBytes, Duration ttl) {
            if (maxBytes <= 0 || ttl == null || ttl.isNegative() || ttl.isZero()) {
                throw new IllegalArgumentException("near cache needs a positive size and time to live, was "
                        + maxBytes + " bytes, " + ttl);
            }
            this.nearBytes = maxBytes;
            this.nearTtl = ttl;
            return this;
        }

        /**
         * Whether concurrent identical calls on different instances coordinate through in-flight markers in the store
         * (default true); single-flight within this instance always applies.
         */
        public Builder singleFlightAcrossInstances(boolean enabled) {
            this.acrossInstances = enabled;
            return this;
        }

        /**
         * How long an in-flight marker lives unless renewed (default 10 s). The leader renews it every third of this
         * while its call runs, so a long call keeps its lead; a crashed leader's followers take over within about
         * this long. Keep it well above the store's worst round trip and pauses of the leader's JVM.
         *
         * @throws IllegalArgumentException unless positive
         */
        public Builder inFlightTtl(Duration ttl) {
            if (ttl == null || ttl.isNegative() || ttl.isZero()) {
                throw new IllegalArgumentException("inFlightTtl must be positive, was " + ttl);
            }
            this.inFlightTtl = ttl;
            return this;
        }

        /**
         * The longest a follower waits for another instance's live call before calling upstream itself (default
         * 5 minutes): a bound on how long the slowest upstream call (limiter wait included) is waited for.
         *
         * @throws IllegalArgumentException if negative
         */
        public Builder maxWait(Duration wait) {
            if (wait == null || wait.isNegative()) {
                throw new IllegalArgumentException("maxWait must not be negative, was " + wait);
            }
            this.maxWait = wait;
            return this;
        }

        /**
         * The first and the longest pause between a follower's polls of the store (default 10 ms and 250 ms); each
         * pause doubles the previous one and is jittered down by up to half.
         *
         * @throws IllegalArgumentException unless {@code 1 ms ≤ first ≤ longest}
         */
        public Builder pollInterval(Duration first, Duration longest) {
            if (first == null || longest == null || first.toMillis() < 1 || longest.compareTo(first) < 0) {
                throw new IllegalArgumentException("poll interval must satisfy 1 ms <= first <= longest, was "
                        + first + ", " + longest);
            }
            this.pollMin = first;
            this.pollMax = longest;
            return this;
        }

        /** The wall clock that dates stored answers (default UTC system clock). */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /** The cache. */
        public ResponseCache build() {
            return new ResponseCache(this);
        }
    }
}

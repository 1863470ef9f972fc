package dev.sluice.cache;

import static dev.sluice.cache.Fixtures.answer;
import static dev.sluice.cache.Fixtures.chat;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.memory.MemoryCacheStore;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The leader's marker and its followers, around store calls that are slow, fail, or race with other instances. */
@Timeout(120)
class SingleFlightTest {

    private final MemoryCacheStore memory = MemoryCacheStore.builder().build();

    private static boolean isMarker(String key) {
        return key.contains(":f:");
    }

    /** A marker renewal, a plain put before renewals compared the marker. */
    private static boolean isRenewal(String op, String key) {
        return isMarker(key) && (op.equals("put") || op.equals("renewIfEquals"));
    }

    private static int renewals(ProbeStore probe, boolean finished) {
        return finished ? probe.finished("put") + probe.finished("renewIfEquals")
                : probe.calls("put") + probe.calls("renewIfEquals");
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void completingAnAsyncCallNeverWaitsForAMarkerRenewalInTheStore() throws Exception {
        CountDownLatch renewing = new CountDownLatch(1);
        CountDownLatch storeAnswers = new CountDownLatch(1);
        ProbeStore probe = new ProbeStore(memory, (op, key) -> {
            if (isRenewal(op, key)) {
                renewing.countDown();
                await(storeAnswers); // the renewal's round trip to a slow store
            }
        });
        ResponseCache cache = ResponseCache.builder(probe).inFlightTtl(Duration.ofMillis(30)).build();
        CompletableFuture<LlmResponse> provider = new CompletableFuture<>();
        CompletableFuture<CacheAnswer> call = cache.callAsync(chat("renewed"), () -> provider).toCompletableFuture();
        ExecutorService eventLoop = Executors.newSingleThreadExecutor();
        try {
            assertThat(renewing.await(30, TimeUnit.SECONDS)).isTrue();
            // The provider's answer completes on the event loop, which must come back while the renewal waits.
            eventLoop.submit(() -> provider.complete(answer("done"))).get(30, TimeUnit.SECONDS);
            assertThat(call).as("the marker is released only after the renewal").isNotDone();
            storeAnswers.countDown();
            assertThat(call.get(30, TimeUnit.SECONDS).response()).isEqualTo(answer("done"));
            assertThat(memory.snapshot().keySet()).noneMatch(SingleFlightTest::isMarker);
        } finally {
            storeAnswers.countDown();
            eventLoop.shutdownNow();
            cache.close();
        }
    }

    @Test
    void aFailedMarkerGoesUpstreamAloneWithoutRenewingRereadingOrReleasing() throws Exception {
        for (boolean async : new boolean[] {false, true}) {
            ProbeStore down = new ProbeStore(memory, (op, key) -> {
                throw new IllegalStateException("store down");
            });
            ResponseCache cache = ResponseCache.builder(down).build();
            CacheAnswer a = async
                    ? cache.callAsync(chat("q"), () -> CompletableFuture.completedFuture(answer("ok")))
                            .toCompletableFuture().get(30, TimeUnit.SECONDS)
                    : cache.call(chat("q"), () -> answer("ok"));
            assertThat(a.response()).isEqualTo(answer("ok"));
            assertThat(a.source()).isEqualTo(CacheAnswer.Source.MISS);
            // the lookup, the marker attempt and the attempt to store the answer: nothing else
            assertThat(down.calls("get")).as("async %s", async).isEqualTo(1);
            assertThat(down.calls("putIfAbsent")).as("async %s", async).isEqualTo(1);
            assertThat(down.calls("put")).as("async %s", async).isEqualTo(1);
            assertThat(down.calls()).as("async %s", async).isEqualTo(3);
            assertThat(cache.stats().errors()).as("async %s", async).isEqualTo(3);
            cache.close();
        }
    }

    @Test
    void anInterruptedLeadersFollowersGetTheirOwnAnswerNotItsInterruption() throws Exception {
        ResponseCache cache = ResponseCache.builder(memory).build();
        CountDownLatch leading = new CountDownLatch(1);
        AtomicInteger calls = new AtomicInteger();
        Upstream upstream = () -> {
            if (calls.incrementAndGet() == 1) {
                leading.countDown();
                new CountDownLatch(1).await(); // the provider's long answer, until the leader's caller interrupts
            }
            return answer("a follower's own");
        };
        CompletableFuture<Object> leaderOutcome = new CompletableFuture<>();
        Thread leader = new Thread(() -> {
            try {
                leaderOutcome.complete(cache.call(chat("interrupted"), upstream));
            } catch (Exception e) {
                leaderOutcome.complete(e);
            }
        });
        leader.start();
        assertThat(leading.await(30, TimeUnit.SECONDS)).isTrue();
        CompletableFuture<Object> blocking = new CompletableFuture<>();
        Thread follower = new Thread(() -> {
            try {
                blocking.complete(cache.call(chat("interrupted"), upstream));
            } catch (Exception e) {
                blocking.complete(e);
            }
        });
        follower.start();
        CompletableFuture<CacheAnswer> async = cache.callAsync(chat("interrupted"),
                () -> CompletableFuture.supplyAsync(() -> {
                    calls.incrementAndGet();
                    return answer("a follower's own");
                })).toCompletableFuture();
        while (cache.stats().misses() < 3 || follower.getState() != Thread.State.WAITING) {
            Thread.onSpinWait(); // both followers missed, so join the leader's flight; the blocking one waits in it
        }
        Thread.sleep(100);
        leader.interrupt();
        assertThat(leaderOutcome.get(30, TimeUnit.SECONDS)).isInstanceOf(InterruptedException.class);
        assertThat(blocking.get(30, TimeUnit.SECONDS)).isInstanceOfSatisfying(CacheAnswer.class,
                a -> assertThat(a.response()).isEqualTo(answer("a follower's own")));
        assertThat(async.get(30, TimeUnit.SECONDS).response()).isEqualTo(answer("a follower's own"));
        assertThat(calls).as("one follower led again, the other joined it").hasValue(2);
        // the second follower shared the new leader's call, here or through the store
        CacheStats stats = cache.stats();
        assertThat(stats.coalescedLocal() + stats.coalescedShared()).as("%s", stats).isEqualTo(1);
        assertThat(stats.upstreamCalls()).as("%s", stats).isEqualTo(2);
        assertThat(follower.isInterrupted()).isFalse();
    }

    /**
     * {@code request} through {@code cache} on another thread; its upstream opens {@code leading}, then answers
     * {@code text} once {@code provider} opens.
     */
    private static CompletableFuture<CacheAnswer> held(ResponseCache cache, CacheRequest request,
            CountDownLatch leading, CountDownLatch provider, String text) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return cache.call(request, () -> {
                    leading.countDown();
                    await(provider);
                    return answer(text);
                });
            } catch (Exception e) {
                throw new CompletionException(e);
            }
        });
    }

    @Test
    void aRenewalNeverReplacesTheMarkerAnotherInstanceTookAfterOursExpired() throws Exception {
        ProbeStore probe = new ProbeStore(memory, (op, key) -> { });
        ResponseCache cache = ResponseCache.builder(probe).inFlightTtl(Duration.ofMillis(300)).build();
        CacheRequest request = chat("long call");
        String markerKey = "llm:f:" + cache.key(request);
        byte[] theirs = "in-flight B".getBytes(StandardCharsets.US_ASCII);
        CountDownLatch leading = new CountDownLatch(1);
        CountDownLatch provider = new CountDownLatch(1);
        CompletableFuture<CacheAnswer> call = held(cache, request, leading, provider, "A's");
        try {
            assertThat(leading.await(30, TimeUnit.SECONDS)).isTrue();
            // A paused past its marker's time to live, and instance B took the lead with a marker of its own.
            int started = renewals(probe, false); // counted first: a renewal begun before B's put may be the last
            memory.put(markerKey, theirs, Duration.ofHours(1));
            while (renewals(probe, true) <= started) { // renewals run one at a time: one ended after B's marker
                Thread.onSpinWait();
            }
            assertThat(memory.get(markerKey)).isEqualTo(theirs);
            provider.countDown();
            assertThat(call.get(30, TimeUnit.SECONDS).response()).isEqualTo(answer("A's"));
            assertThat(memory.get(markerKey)).as("A's release leaves B's marker too").isEqualTo(theirs);
        } finally {
            provider.countDown();
            cache.close();
        }
    }

    private static final LlmResponse FAILED = LlmResponse.json(500, "{\"error\":{\"message\":\"boom\"}}");

    /** {@code upstream} through {@code cache}, blocking or not, on {@code pool}'s threads. */
    private static CompletableFuture<CacheAnswer> run(ResponseCache cache, CacheRequest request, boolean async,
            Upstream upstream, ExecutorService pool) {
        if (async) {
            return cache.callAsync(request, () -> CompletableFuture.supplyAsync(() -> {
                try {
                    return upstream.call();
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            }, pool)).toCompletableFuture();
        }
        return CompletableFuture.supplyAsync(() -> {
            try {
                return cache.call(request, upstream);
            } catch (Exception e) {
                throw new CompletionException(e);
            }
        }, pool);
    }

    /** The shared store, counting the attempts to put a marker in {@code attempts}. */
    private ProbeStore countingMarkerAttempts(AtomicInteger attempts) {
        return new ProbeStore(memory, (op, key) -> {
            if (op.equals("putIfAbsent") && isMarker(key)) {
                attempts.incrementAndGet();
            }
        });
    }

    private static void awaitCount(AtomicInteger count, int atLeast) throws InterruptedException {
        for (int i = 0; i < 3000 && count.get() < atLeast; i++) {
            Thread.sleep(10);
        }
        assertThat(count.get()).isGreaterThanOrEqualTo(atLeast);
    }

    @Test
    void followersOfAFlightThatStoredNothingGoUpstreamAtOnceNotInTurn() throws Exception {
        ExecutorService pool = Executors.newCachedThreadPool();
        try {
            for (boolean async : new boolean[] {false, true}) {
                AtomicInteger markerAttempts = new AtomicInteger();
                ProbeStore probe = countingMarkerAttempts(markerAttempts);
                List<ResponseCache> instances = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    instances.add(ResponseCache.builder(probe).build());
                }
                CacheRequest request = chat("stores nothing, async " + async);
                CountDownLatch leading = new CountDownLatch(1);
                CountDownLatch provider = new CountDownLatch(1);
                CompletableFuture<CacheAnswer> leader = run(instances.get(0), request, async, () -> {
                    leading.countDown();
                    await(provider);
                    return FAILED; // not storable
                }, pool);
                assertThat(leading.await(30, TimeUnit.SECONDS)).isTrue();
                AtomicInteger inFlight = new AtomicInteger();
                AtomicInteger most = new AtomicInteger();
                Upstream own = () -> {
                    most.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
                    for (int i = 0; i < 500 && most.get() < 3; i++) { // up to 5 s for the other two to come
                        Thread.sleep(10);
                    }
                    inFlight.decrementAndGet();
                    return answer("a follower's own");
                };
                List<CompletableFuture<CacheAnswer>> followers = new ArrayList<>();
                for (int i = 1; i < 4; i++) { // one per instance: on one instance they would share one flight
                    followers.add(run(instances.get(i), request, async, own, pool));
                }
                awaitCount(markerAttempts, 4); // the leader's marker and the three that found it taken
                provider.countDown();
                assertThat(leader.get(30, TimeUnit.SECONDS).response().status()).isEqualTo(500);
                for (CompletableFuture<CacheAnswer> f : followers) {
                    assertThat(f.get(60, TimeUnit.SECONDS).response()).isEqualTo(answer("a follower's own"));
                }
                assertThat(most).as("async %s: the three followers were upstream at once", async).hasValue(3);
                instances.forEach(ResponseCache::close);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aNewLeaderClearsThePreviousFlightsTombstoneSoItsOwnFollowersWaitForIt() throws Exception {
        ExecutorService pool = Executors.newCachedThreadPool();
        try {
            for (boolean async : new boolean[] {false, true}) {
                AtomicInteger markerAttempts = new AtomicInteger();
                ProbeStore probe = countingMarkerAttempts(markerAttempts);
                ResponseCache a = ResponseCache.builder(probe).build();
                ResponseCache b = ResponseCache.builder(probe).build();
                CacheRequest request = chat("tombstone cleared, async " + async);
                assertThat(run(a, request, async, () -> FAILED, pool).get(30, TimeUnit.SECONDS).response().status())
                        .isEqualTo(500);
                assertThat(memory.snapshot()).containsKey("llm:r:" + a.key(request)); // its tombstone
                CountDownLatch leading = new CountDownLatch(1);
                CountDownLatch provider = new CountDownLatch(1);
                CompletableFuture<CacheAnswer> next = run(a, request, async, () -> {
                    leading.countDown();
                    await(provider);
                    return answer("the new leader's");
                }, pool);
                assertThat(leading.await(30, TimeUnit.SECONDS)).isTrue();
                AtomicInteger followerCalls = new AtomicInteger();
                CompletableFuture<CacheAnswer> follower = run(b, request, async, () -> {
                    followerCalls.incrementAndGet();
                    return answer("the follower's own");
                }, pool);
                awaitCount(markerAttempts, 3); // the two leaders' markers and the follower's attempt
                Thread.sleep(150); // the follower polls several times, well within the tombstone's second
                provider.countDown();
                assertThat(next.get(30, TimeUnit.SECONDS).response()).isEqualTo(answer("the new leader's"));
                CacheAnswer followed = follower.get(30, TimeUnit.SECONDS);
                assertThat(followed.response()).isEqualTo(answer("the new leader's"));
                assertThat(followed.source()).isEqualTo(CacheAnswer.Source.COALESCED);
                assertThat(followerCalls).as("async %s", async).hasValue(0);
                a.close();
                b.close();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void anInterruptedLeaderLeavesNoTombstone_itsRemoteFollowersLeadInTurn() throws Exception {
        ExecutorService pool = Executors.newCachedThreadPool();
        try {
            AtomicInteger markerAttempts = new AtomicInteger();
            ProbeStore probe = countingMarkerAttempts(markerAttempts);
            List<ResponseCache> instances = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                instances.add(ResponseCache.builder(probe).build());
            }
            CacheRequest request = chat("leader interrupted");
            CountDownLatch leading = new CountDownLatch(1);
            CompletableFuture<Thread> leaderThread = new CompletableFuture<>();
            CompletableFuture<CacheAnswer> leader = run(instances.get(0), request, false, () -> {
                leaderThread.complete(Thread.currentThread());
                leading.countDown();
                new CountDownLatch(1).await(); // until its caller interrupts it
                return answer("never");
            }, pool);
            assertThat(leading.await(30, TimeUnit.SECONDS)).isTrue();
            AtomicInteger calls = new AtomicInteger();
            Upstream own = () -> {
                calls.incrementAndGet();
                Thread.sleep(500); // longer than a poll: a follower that did not lead sees the marker, not the answer
                return answer("a follower's");
            };
            List<CompletableFuture<CacheAnswer>> followers = List.of(run(instances.get(1), request, false, own, pool),
                    run(instances.get(2), request, false, own, pool));
            awaitCount(markerAttempts, 3);
            leaderThread.get(30, TimeUnit.SECONDS).interrupt();
            assertThat(leader).failsWithin(Duration.ofSeconds(30));
            for (CompletableFuture<CacheAnswer> f : followers) {
                assertThat(f.get(60, TimeUnit.SECONDS).response()).isEqualTo(answer("a follower's"));
            }
            assertThat(calls).as("one follower led, the other got its answer").hasValue(1);
            instances.forEach(ResponseCache::close);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aLeaderInFlightWhenItsCacheClosesKeepsRenewingItsMarkerUntilItEnds() throws Exception {
        // renewed every 2/3 s: a pause of a second on a loaded machine still finds the marker alive
        ResponseCache cache = ResponseCache.builder(memory).inFlightTtl(Duration.ofSeconds(2)).build();
        CacheRequest request = chat("closed while leading");
        String markerKey = "llm:f:" + cache.key(request);
        CountDownLatch leading = new CountDownLatch(1);
        CountDownLatch provider = new CountDownLatch(1);
        CompletableFuture<CacheAnswer> call = held(cache, request, leading, provider, "after the close");
        try {
            assertThat(leading.await(30, TimeUnit.SECONDS)).isTrue();
            cache.close(); // as a gateway does when its cache settings are reloaded
            Thread.sleep(4_500); // more than twice the marker's time to live
            assertThat(memory.get(markerKey)).as("the marker, still renewed").isNotNull();
            provider.countDown();
            assertThat(call.get(30, TimeUnit.SECONDS).response()).isEqualTo(answer("after the close"));
            assertThat(memory.get(markerKey)).as("released at the end").isNull();
        } finally {
            provider.countDown();
        }
    }
}

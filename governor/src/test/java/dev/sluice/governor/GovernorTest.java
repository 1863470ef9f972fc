package dev.sluice.governor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.memory.MemoryBackend;
import dev.sluice.testkit.ForwardingBackend;
import dev.sluice.testkit.simulator.Dialect;
import dev.sluice.testkit.simulator.ProviderSimulator;
import dev.sluice.testkit.simulator.SimulatorLimits;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class GovernorTest {

    static final String MODEL = "gpt-4o-mini";
    static final ProviderProfiles PROFILES = ProviderProfiles.fromYaml("""
            providers:
              sim:
                source: the provider simulator
                dialect: openai
                encoding: o200k_base
                window: 10s
                guard: 0s
                models:
                  gpt-4o-mini: {rpm: 10, tpm: 100000, concurrent: 4, leaseTtl: 30s}
              simgemini:
                dialect: gemini
                encoding: o200k_base
                window: 10s
                dayWindow: 1h
                guard: 0s
                models:
                  gpt-4o-mini: {rpm: 10, tpm: 100000, rpd: 100}
            """);

    private final List<AutoCloseable> open = new ArrayList<>();
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    private <T extends AutoCloseable> T open(T c) {
        open.add(c);
        return c;
    }

    private ProviderSimulator simulator(ProviderSimulator.Builder b) {
        return open(b.start());
    }

    private Governor governor(Governor.Builder b) {
        return open(b.profiles(PROFILES).backoff(Duration.ofMillis(10), Duration.ofMillis(100)).build());
    }

    private OpenAiHttpUpstream upstream(ProviderSimulator sim) {
        return new OpenAiHttpUpstream(http, sim.baseUrl(), Duration.ofSeconds(10));
    }

    static ChatRequest chat(String prompt, long maxTokens) {
        return ChatRequest.fromOpenAiJson("{\"model\":\"" + MODEL + "\",\"max_tokens\":" + maxTokens
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}]}");
    }

    @Test
    @DisplayName("A call whose prompt and output together pass what a long holds (n x max_tokens near its top) is "
            + "refused as too large and never sent; it used to wrap to a negative count and go out uncharged")
    void tokensPastALongAreTooLarge() throws Exception {
        Governor g = governor(Governor.builder(MemoryBackend.create()).pool(MODEL, ProviderKey.of("sim", "sk-1")));
        AtomicInteger sent = new AtomicInteger();
        ChatRequest huge = ChatRequest.fromOpenAiJson("{\"model\":\"" + MODEL + "\",\"n\":2,\"max_tokens\":"
                + (Long.MAX_VALUE / 2 + 1) + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThatThrownBy(() -> g.call(huge, req -> {
            sent.incrementAndGet();
            throw new AssertionError("sent");
        })).isInstanceOfSatisfying(GovernorException.class,
                e -> assertThat(e.reason()).isEqualTo(GovernorException.Reason.TOO_LARGE));
        assertThat(sent).hasValue(0);
    }

    @Test
    @DisplayName("Under a profile with no token limit a call reserving more than a long holds is sent, and the "
            + "tokensReserved statistic stops at Long.MAX_VALUE instead of wrapping to a negative count")
    void reservedTokensSaturate() throws Exception {
        ProviderProfiles requestsOnly = ProviderProfiles.fromYaml("""
                providers:
                  sim:
                    models:
                      gpt-4o-mini: {rpm: 10}
                """);
        Governor g = open(Governor.builder(MemoryBackend.create()).profiles(requestsOnly)
                .pool(MODEL, ProviderKey.of("sim", "sk-1")).build());
        ChatRequest huge = ChatRequest.fromOpenAiJson("{\"model\":\"" + MODEL + "\",\"n\":2,\"max_tokens\":"
                + (Long.MAX_VALUE / 2 + 1) + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThat(g.call(huge, req -> answered()).response().status()).isEqualTo(200);
        assertThat(g.stats().tokensReserved()).isEqualTo(Long.MAX_VALUE);
        assertThat(g.call(chat("again", 10), req -> answered()).response().status()).isEqualTo(200);
        assertThat(g.stats().tokensReserved()).isEqualTo(Long.MAX_VALUE);
    }

    @Test
    @DisplayName("Tokens a settled call gives back wake the calls waiting for them on its key, oldest first, each one "
            + "sent waking the next: they go out then, not when the window slides a minute later")
    void settlementWakesWaitingCalls() throws Exception {
        ProviderProfiles profiles = twoThousandTokensAMinute(false);
        Governor g = open(Governor.builder(MemoryBackend.create()).profiles(profiles)
                .pool(MODEL, ProviderKey.of("sim", "sk-1")).maxWait(Duration.ofSeconds(90)).build());
        CompletableFuture<UpstreamResponse> first = new CompletableFuture<>();
        CompletableFuture<UpstreamResponse> later = new CompletableFuture<>(); // the woken calls are held too, so
        AtomicInteger sent = new AtomicInteger();                               // only a wake can send the second
        Upstream upstream = a -> sent.incrementAndGet() == 1 ? first : later;
        // reserves about 1,990 of the key's 2,000 tokens a minute; will use 16
        CompletableFuture<GovernedResponse> big = g.callAsync(chat("big", 1980), upstream);
        await(() -> sent.get() == 1);
        CompletableFuture<GovernedResponse> a = g.callAsync(chat("a", 400), upstream);
        await(() -> g.waitingForRelease() == 1);
        CompletableFuture<GovernedResponse> b = g.callAsync(chat("b", 400), upstream);
        await(() -> g.waitingForRelease() == 2);

        first.complete(answered());
        assertThat(big.get(10, TimeUnit.SECONDS).response().status()).isEqualTo(200);
        // far less than the minute the window would take
        await(() -> sent.get() == 3);
        assertThat(g.waitingForRelease()).isZero();
        assertThat(g.timersPending()).as("the woken calls' timers are cancelled, not left to fire in a minute")
                .isZero();
        later.complete(answered());
        assertThat(a.get(10, TimeUnit.SECONDS).response().status()).isEqualTo(200);
        assertThat(b.get(10, TimeUnit.SECONDS).response().status()).isEqualTo(200);
    }

    @Test
    @DisplayName("A 429 gives its reservation back only once the key's cooldown is written: the call it wakes waits"
            + " out the provider's retry-after instead of going out inside it")
    void a429WakesWaitersIntoItsCooldown() throws Exception {
        // adaptive: a 429 also lowers the key's limits, which widened the gap when the release came before the cooldown
        ProviderProfiles profiles = twoThousandTokensAMinute(true);
        Governor g = open(Governor.builder(MemoryBackend.create()).profiles(profiles)
                .pool(MODEL, ProviderKey.of("sim", "sk-1")).maxAttempts(1).maxWait(Duration.ofSeconds(90)).build());
        CompletableFuture<UpstreamResponse> first = new CompletableFuture<>();
        List<Long> sentAt = new CopyOnWriteArrayList<>();
        Upstream upstream = a -> {
            sentAt.add(System.nanoTime());
            return sentAt.size() == 1 ? first : CompletableFuture.completedFuture(answered());
        };
        CompletableFuture<GovernedResponse> big = g.callAsync(chat("big", 1980), upstream);
        await(() -> sentAt.size() == 1);
        CompletableFuture<GovernedResponse> waiting = g.callAsync(chat("a", 400), upstream);
        await(() -> g.waitingForRelease() == 1);

        long answered = System.nanoTime();
        first.complete(UpstreamResponse.of(429, Map.of("retry-after", List.of("2")), "{}"));
        assertThat(big.get(10, TimeUnit.SECONDS).response().status()).isEqualTo(429);
        assertThat(waiting.get(20, TimeUnit.SECONDS).response().status()).isEqualTo(200);
        assertThat(sentAt).hasSize(2);
        assertThat(sentAt.get(1) - answered).as("sent after the 2 s the provider asked for")
                .isGreaterThanOrEqualTo(TimeUnit.SECONDS.toNanos(2));
    }

    @Test
    @DisplayName("A settlement that lands between a call's refused look and its joining the queue still wakes it")
    void settlementBeforeQueueingWakes() throws Exception {
        ProviderProfiles profiles = twoThousandTokensAMinute(false);
        ProviderKey key = ProviderKey.of("sim", "sk-1");
        CompletableFuture<UpstreamResponse> first = new CompletableFuture<>();
        AtomicReference<Governor> gov = new AtomicReference<>();
        AtomicInteger looks = new AtomicInteger();
        LimiterBackend backend = new ForwardingBackend(MemoryBackend.create()) {
            @Override
            public Decision acquire(String k, Policy policy, Cost cost) {
                Decision d = super.acquire(k, policy, cost);
                if (looks.incrementAndGet() == 2) { // the waiting call's first look, refused: settle the big call now
                    assertThat(d.granted()).isFalse();
                    first.complete(answered());
                    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                    while (gov.get().releases(MODEL, key) == 0 && System.nanoTime() < end) {
                        Thread.onSpinWait();
                    }
                }
                return d;
            }
        };
        Governor g = open(Governor.builder(backend).profiles(profiles).pool(MODEL, key)
                .maxWait(Duration.ofSeconds(90)).build());
        gov.set(g);
        AtomicInteger sent = new AtomicInteger();
        Upstream upstream = a -> sent.incrementAndGet() == 1 ? first
                : CompletableFuture.completedFuture(answered());
        CompletableFuture<GovernedResponse> big = g.callAsync(chat("big", 1980), upstream);
        await(() -> sent.get() == 1);
        CompletableFuture<GovernedResponse> waiting = g.callAsync(chat("a", 400), upstream);
        assertThat(big.get(10, TimeUnit.SECONDS).response().status()).isEqualTo(200);
        // the window would free the tokens only in a minute
        assertThat(waiting.get(15, TimeUnit.SECONDS).response().status()).isEqualTo(200);
        assertThat(g.waitingForRelease()).isZero();
    }

    @Test
    @DisplayName("A woken call that still does not fit keeps its place at the head of the queue and the wakes stop"
            + " there: a smaller call behind it that would fit is not served first")
    void wokenCallStillShortKeepsItsPlace() throws Exception {
        ProviderProfiles profiles = twoThousandTokensAMinute(false);
        AtomicInteger looks = new AtomicInteger();
        // the tokens of each grant, in the order granted: a call is sent on a worker thread after its grant, so
        // two calls granted one after the other may reach the upstream in either order
        List<Long> granted = new CopyOnWriteArrayList<>();
        LimiterBackend counting = new ForwardingBackend(MemoryBackend.create()) {
            @Override
            public Decision acquire(String k, Policy policy, Cost cost) {
                looks.incrementAndGet();
                Decision d = super.acquire(k, policy, cost);
                if (d.granted()) {
                    granted.add(cost.units("tokens"));
                }
                return d;
            }
        };
        Governor g = open(Governor.builder(counting).profiles(profiles)
                .pool(MODEL, ProviderKey.of("sim", "sk-1")).maxWait(Duration.ofSeconds(90)).build());
        Map<String, CompletableFuture<UpstreamResponse>> answers = new java.util.concurrent.ConcurrentHashMap<>();
        List<String> order = new CopyOnWriteArrayList<>();
        Upstream upstream = a -> {
            String prompt = a.request().messages().get(0).content();
            order.add(prompt);
            return answers.computeIfAbsent(prompt, p -> new CompletableFuture<>());
        };
        String used = "{\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":5}}";
        // about 1,000 and 990 of the key's 2,000 tokens a minute
        CompletableFuture<GovernedResponse> big1 = g.callAsync(chat("big1", 990), upstream);
        await(() -> order.size() == 1); // calls go out on worker threads: one at a time, for a known order
        CompletableFuture<GovernedResponse> big2 = g.callAsync(chat("big2", 980), upstream);
        await(() -> order.size() == 2);
        CompletableFuture<GovernedResponse> a = g.callAsync(chat("a", 1500), upstream); // about 1,510
        await(() -> g.waitingForRelease() == 1);
        CompletableFuture<GovernedResponse> b = g.callAsync(chat("b", 400), upstream); // about 410
        await(() -> g.waitingForRelease() == 2);

        // about 1,000 free: not enough for a, enough for b, which must not pass a
        answers.get("big1").complete(UpstreamResponse.of(200, Map.of(), used));
        assertThat(big1.get(10, TimeUnit.SECONDS).response().status()).isEqualTo(200);
        await(() -> looks.get() == 5 && g.waitingForRelease() == 2); // a looked once more and queued again
        assertThat(order).hasSize(2);
        // about 1,980 free: a, then the wake it passes on serves b
        answers.get("big2").complete(UpstreamResponse.of(200, Map.of(), used));
        assertThat(big2.get(10, TimeUnit.SECONDS).response().status()).isEqualTo(200);
        await(() -> order.size() == 4);
        assertThat(order).containsExactlyInAnyOrder("big1", "big2", "a", "b");
        assertThat(granted).hasSize(4);
        assertThat(granted.get(2)).as("a, about 1,510 tokens, granted before b").isGreaterThan(1_000);
        assertThat(granted.get(3)).as("then b, about 410").isLessThan(1_000);
        answers.get("a").complete(UpstreamResponse.of(200, Map.of(), used));
        answers.get("b").complete(UpstreamResponse.of(200, Map.of(), used));
        assertThat(a.get(10, TimeUnit.SECONDS).response().status()).isEqualTo(200);
        assertThat(b.get(10, TimeUnit.SECONDS).response().status()).isEqualTo(200);
    }

    @Test
    @DisplayName("A call that looks again because a settlement passed while it queued joins the tail: it does not jump"
            + " ahead of an older waiting call")
    void aRecheckDoesNotJumpTheQueue() throws Exception {
        ProviderProfiles profiles = twoThousandTokensAMinute(false);
        ProviderKey key = ProviderKey.of("sim", "sk-1");
        Map<String, CompletableFuture<UpstreamResponse>> answers = new java.util.concurrent.ConcurrentHashMap<>();
        AtomicReference<Governor> gov = new AtomicReference<>();
        AtomicInteger looks = new AtomicInteger();
        LimiterBackend backend = new ForwardingBackend(MemoryBackend.create()) {
            @Override
            public Decision acquire(String k, Policy policy, Cost cost) {
                Decision d = super.acquire(k, policy, cost);
                if (looks.incrementAndGet() == 4) { // x's first look, refused: big1 settles before x queues
                    assertThat(d.granted()).isFalse();
                    answers.get("big1").complete(answered());
                    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                    // and w1, woken by it, looked and queued again (first in line) before x queues
                    while (!(gov.get().releases(MODEL, key) > 0 && looks.get() == 5
                            && gov.get().waitingForRelease() == 1) && System.nanoTime() < end) {
                        Thread.onSpinWait();
                    }
                }
                return d;
            }
        };
        Governor g = open(Governor.builder(backend).profiles(profiles).pool(MODEL, key)
                .maxWait(Duration.ofSeconds(90)).build());
        gov.set(g);
        List<String> order = new CopyOnWriteArrayList<>();
        Upstream upstream = a -> {
            String prompt = a.request().messages().get(0).content();
            order.add(prompt);
            return answers.computeIfAbsent(prompt, p -> new CompletableFuture<>());
        };
        answers.put("big1", new CompletableFuture<>());
        // about 1,000 and 990 of the key's 2,000 tokens a minute
        CompletableFuture<GovernedResponse> big1 = g.callAsync(chat("big1", 990), upstream);
        CompletableFuture<GovernedResponse> big2 = g.callAsync(chat("big2", 980), upstream);
        await(() -> order.size() == 2);
        CompletableFuture<GovernedResponse> w1 = g.callAsync(chat("w1", 1500), upstream); // about 1,510
        await(() -> g.waitingForRelease() == 1);
        CompletableFuture<GovernedResponse> x = g.callAsync(chat("x", 1400), upstream); // about 1,410
        // big1's settlement (about 1,000 free: neither fits) woke w1, and x looked again: both queued once more
        await(() -> looks.get() == 6 && g.waitingForRelease() == 2);
        assertThat(big1.get(10, TimeUnit.SECONDS).response().status()).isEqualTo(200);
        assertThat(order).hasSize(2);

        // about 1,980 free: one of the two fits, and it must be the older, w1
        answers.get("big2").complete(answered());
        assertThat(big2.get(10, TimeUnit.SECONDS).response().status()).isEqualTo(200);
        await(() -> order.size() == 3);
        assertThat(order.get(2)).isEqualTo("w1");
        answers.get("w1").complete(answered());
        assertThat(w1.get(10, TimeUnit.SECONDS).response().status()).isEqualTo(200);
    }

    @Test
    @DisplayName("A woken call that fails instead of being granted passes the wake on to the next waiting call")
    void wokenCallThatFailsPassesTheWakeOn() throws Exception {
        ProviderProfiles profiles = twoThousandTokensAMinute(false);
        AtomicInteger looks = new AtomicInteger();
        LimiterBackend backend = new ForwardingBackend(MemoryBackend.create()) {
            @Override
            public Decision acquire(String k, Policy policy, Cost cost) {
                if (looks.incrementAndGet() == 4) { // the big call's, then a's and b's refused, then a's woken look
                    throw new IllegalStateException("backend down for this look");
                }
                return super.acquire(k, policy, cost);
            }
        };
        Governor g = open(Governor.builder(backend).profiles(profiles).pool(MODEL, ProviderKey.of("sim", "sk-1"))
                .maxWait(Duration.ofSeconds(90)).build());
        CompletableFuture<UpstreamResponse> first = new CompletableFuture<>();
        AtomicInteger sent = new AtomicInteger();
        Upstream upstream = a -> sent.incrementAndGet() == 1 ? first
                : CompletableFuture.completedFuture(answered());
        CompletableFuture<GovernedResponse> big = g.callAsync(chat("big", 1980), upstream);
        await(() -> sent.get() == 1);
        CompletableFuture<GovernedResponse> a = g.callAsync(chat("a", 400), upstream);
        await(() -> g.waitingForRelease() == 1);
        CompletableFuture<GovernedResponse> b = g.callAsync(chat("b", 400), upstream);
        await(() -> g.waitingForRelease() == 2);

        first.complete(answered());
        assertThat(a).failsWithin(Duration.ofSeconds(10)).withThrowableThat().havingRootCause()
                .withMessage("backend down for this look");
        // the window would free the tokens only in a minute
        assertThat(b.get(15, TimeUnit.SECONDS).response().status()).isEqualTo(200);
        assertThat(big.get(10, TimeUnit.SECONDS).response().status()).isEqualTo(200);
    }

    @Test
    @DisplayName("Reserve prompt + max_tokens, then settle on the reported usage: the difference is refunded")
    void reserveThenSettle() throws Exception {
        ProviderSimulator sim = simulator(ProviderSimulator.builder());
        Governor g = governor(Governor.builder(MemoryBackend.create()).pool(MODEL, ProviderKey.of("sim", "sk-1")));
        GovernedResponse r = g.call(chat("hello there", 500), req -> upstream(sim).send(req).toCompletableFuture()
                .join());
        assertThat(r.response().status()).isEqualTo(200);
        assertThat(r.attempts()).isEqualTo(1);
        Usage u = r.response().reportedUsage();
        GovernorStats s = g.stats();
        long prompt = u.promptTokens();
        assertThat(s.promptEstimateError()).as("jtokkit estimate is exact for the simulator").isZero();
        assertThat(s.tokensReserved()).isEqualTo(prompt + 500);
        assertThat(s.tokensActual()).isEqualTo(u.totalTokens());
        assertThat(s.tokensRefunded()).isEqualTo(500 - u.completionTokens());
        assertThat(s.unsettled()).isZero();
    }

    @Test
    @DisplayName("Against a provider that counts max_tokens in full, a profile that says so keeps unused output charged"
            + " and never meets a 429; one that refunds it goes over the provider's token limit")
    void providerThatCountsMaxTokens() throws Exception {
        // Each call: a prompt of a few tokens, max_tokens 400, an answer of 16-32 tokens. The provider counts about
        // 410 per call against 4,000 tokens per 2 seconds, so 9 calls per window; refunding the unused output makes the
        // governor think a call costs about 40.
        for (boolean says : new boolean[] {false, true}) {
            ProviderSimulator sim = simulator(ProviderSimulator.builder().chargesMaxTokens(true)
                    .completionTokens(16, 32)
                    .limits(SimulatorLimits.perMinute(1000, 4000).withWindow(Duration.ofSeconds(2))));
            ProviderProfiles profiles = ProviderProfiles.fromYaml("""
                    providers:
                      sim:
                        dialect: none      # no headers to learn from: the profile alone decides
                        adaptive: false
                        encoding: o200k_base
                        window: 2s
                        guard: 1s          # a call may reach the provider late on a slow machine
                        chargesMaxTokens: %s
                        models:
                          gpt-4o-mini: {rpm: 1000, tpm: 4000}
                    """.formatted(says));
            Governor g = open(Governor.builder(MemoryBackend.create()).profiles(profiles)
                    .pool(MODEL, ProviderKey.of("sim", "sk-1")).backoff(Duration.ofMillis(10), Duration.ofMillis(100))
                    .maxWait(Duration.ofSeconds(30)).build());
            for (int i = 0; i < 14; i++) {
                GovernedResponse r = g.call(chat("call " + i, 400), req -> upstream(sim).send(req)
                        .toCompletableFuture().join());
                if (says) {
                    assertThat(r.response().status()).isEqualTo(200);
                }
            }
            long refused = sim.stats().rejected429();
            if (says) {
                assertThat(refused).as("429s with chargesMaxTokens: true").isZero();
                assertThat(g.stats().tokensRefunded()).as("no output given back").isZero();
            } else {
                assertThat(refused).as("429s with chargesMaxTokens: false").isPositive();
            }
        }
    }

    @Test
    @DisplayName("A call that fails at its upstream gives back its output reservation, unless the provider counts "
            + "max_tokens in full: then it stays charged, as the provider counted it")
    void failedCallsKeepOutputWhereTheProviderCountsIt() {
        for (boolean says : new boolean[] {false, true}) {
            ProviderProfiles profiles = ProviderProfiles.fromYaml("""
                    providers:
                      sim:
                        dialect: none
                        adaptive: false
                        encoding: o200k_base
                        chargesMaxTokens: %s
                        models:
                          gpt-4o-mini: {rpm: 1000, tpm: 100000}
                    """.formatted(says));
            Governor g = open(Governor.builder(MemoryBackend.create()).profiles(profiles)
                    .pool(MODEL, ProviderKey.of("sim", "sk-1")).backoff(Duration.ofMillis(1), Duration.ofMillis(2))
                    .build());
            Upstream broken = attempt -> CompletableFuture.failedFuture(new java.io.IOException("connection reset"));
            assertThat(g.callAsync(chat("fails", 300), broken)).failsWithin(Duration.ofSeconds(10));
            GovernorStats s = g.stats();
            assertThat(s.attempts()).isEqualTo(3);
            assertThat(s.tokensRefunded()).as("chargesMaxTokens: %s", says).isEqualTo(says ? 0 : 3 * 300);
        }
    }

    @Test
    @DisplayName("A call whose connection is refused never reached the provider: all it reserved is given back, its"
            + " request too, even where the provider counts max_tokens in full")
    void refusedConnectionsGiveEverythingBack() throws Exception {
        ProviderProfiles profiles = ProviderProfiles.fromYaml("""
                providers:
                  sim:
                    dialect: none
                    adaptive: false
                    encoding: o200k_base
                    chargesMaxTokens: true
                    window: 1m
                    models:
                      gpt-4o-mini: {rpm: 3, tpm: 100000}
                """);
        Governor g = open(Governor.builder(MemoryBackend.create()).profiles(profiles)
                .pool(MODEL, ProviderKey.of("sim", "sk-1")).backoff(Duration.ofMillis(1), Duration.ofMillis(2))
                .maxWait(Duration.ofSeconds(5)).build());
        Upstream refused = attempt -> CompletableFuture.failedFuture(
                new java.io.IOException(new java.net.ConnectException("Connection refused")));
        assertThat(g.callAsync(chat("refused", 300), refused)).failsWithin(Duration.ofSeconds(10));
        GovernorStats s = g.stats();
        assertThat(s.attempts()).isEqualTo(3);
        assertThat(s.tokensRefunded()).isEqualTo(s.tokensReserved());
        // 3 requests a minute: had the 3 refused attempts kept theirs, this call would wait a minute, past maxWait
        GovernedResponse ok = g.callAsync(chat("works", 300), a -> CompletableFuture.completedFuture(
                answered()))
                .get(10, TimeUnit.SECONDS);
        assertThat(ok.response().status()).isEqualTo(200);
        assertThat(ok.attempts()).isEqualTo(1);
    }

    @Test
    @DisplayName("A streamed answer settles on its final usage chunk")
    void streamingSettles() {
        ProviderSimulator sim = simulator(ProviderSimulator.builder());
        Governor g = governor(Governor.builder(MemoryBackend.create()).pool(MODEL, ProviderKey.of("sim", "sk-1")));
        ChatRequest streamed = ChatRequest.fromOpenAiJson("{\"model\":\"gpt-4o-mini\",\"max_tokens\":300,\"stream\":"
                + "true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"stream it\"}]}");
        GovernedResponse r = g.callAsync(streamed, upstream(sim)).join();
        assertThat(r.response().body()).contains("data: [DONE]");
        assertThat(g.stats().tokensActual()).isEqualTo(r.response().reportedUsage().totalTokens());
        assertThat(g.stats().unsettled()).isZero();
    }

    @Test
    @DisplayName("Closing the governor fails the calls it has not answered (one at its upstream, one waiting for"
            + " quota) and refuses new ones, instead of leaving them pending forever")
    void closeFailsOpenCalls() {
        Governor g = Governor.builder(MemoryBackend.create()).profiles(PROFILES)
                .pool(MODEL, ProviderKey.of("sim", "sk-1")).build();
        List<CompletableFuture<GovernedResponse>> calls = new ArrayList<>();
        AtomicInteger sent = new AtomicInteger();
        Upstream silent = attempt -> {
            sent.incrementAndGet();
            return new CompletableFuture<>(); // never answers
        };
        for (int i = 0; i < 5; i++) { // 4 concurrent leases: the fifth waits for one
            calls.add(g.callAsync(chat("call " + i, 20), silent));
        }
        for (int i = 0; i < 500 && sent.get() < 4; i++) {
            sleep(10);
        }
        assertThat(sent).hasValue(4);
        assertThat(calls).noneMatch(CompletableFuture::isDone);

        g.close();
        for (CompletableFuture<GovernedResponse> c : calls) {
            assertThat(c).failsWithin(Duration.ofSeconds(10)).withThrowableThat()
                    .havingCause().isInstanceOf(RejectedExecutionException.class)
                    .withMessageContaining("closed");
        }
        assertThat(g.callAsync(chat("late", 20), silent)).isCompletedExceptionally();
        assertThat(sent).as("nothing sent after close").hasValue(4);
    }

    @Test
    @DisplayName("A call whose wait for a lease fails because close() stopped the governor's threads fails as closed,"
            + " as close() fails it, whichever of the two completes it first")
    void aWaitStoppedByCloseFailsAsClosed() throws Exception {
        // The race CI once met: the waiting call's periodic recheck ran while close() worked, found its scheduler
        // stopped, and failed the call with the scheduler's own rejection before close() reached it. Here the waiting
        // call's first look for a lease is held in the backend until close() gives back the first lease, which waits
        // for the waiting call to end.
        // close() may meet the waiting call before any call at its upstream; then it completes it itself, and the
        // round shows nothing, so the test repeats until close() met a call at its upstream first.
        boolean shown = false;
        for (int round = 0; round < 40 && !shown; round++) {
            AtomicBoolean armed = new AtomicBoolean();
            CountDownLatch inRecheck = new CountDownLatch(1);
            CountDownLatch letRecheckGo = new CountDownLatch(1);
            AtomicBoolean refundStalled = new AtomicBoolean();
            AtomicBoolean waiterEndedBeforeRefund =
                    new AtomicBoolean();
            List<CompletableFuture<GovernedResponse>> waiter = new CopyOnWriteArrayList<>();
            LimiterBackend backend = new ForwardingBackend(MemoryBackend.create()) {
                @Override
                public Decision acquire(String key, Policy policy,
                        Cost cost) {
                    if (armed.compareAndSet(true, false)) {
                        inRecheck.countDown();
                        awaitUninterruptibly(letRecheckGo); // close() interrupts this thread: hold on regardless
                    }
                    return super.acquire(key, policy, cost);
                }

                @Override
                public Decision refund(String key, Policy policy,
                        Cost cost) {
                    if (refundStalled.compareAndSet(false, true)) { // close() giving back a call's lease
                        waiterEndedBeforeRefund.set(waiter.get(0).isDone());
                        letRecheckGo.countDown();
                        try {
                            waiter.get(0).handle((r, e) -> null).get(10, TimeUnit.SECONDS);
                        } catch (Exception e) {
                            throw new AssertionError("the waiting call did not end while close() gave back a lease", e);
                        }
                    }
                    return super.refund(key, policy, cost);
                }
            };
            Governor g = Governor.builder(backend).profiles(PROFILES).pool(MODEL, ProviderKey.of("sim", "sk-1"))
                    .build();
            AtomicInteger sent = new AtomicInteger();
            Upstream silent = attempt -> {
                sent.incrementAndGet();
                return new CompletableFuture<>(); // never answers
            };
            for (int i = 0; i < 4; i++) { // the 4 concurrent leases
                g.callAsync(chat("call " + i, 20), silent);
            }
            for (int i = 0; i < 500 && sent.get() < 4; i++) {
                sleep(10);
            }
            assertThat(sent).hasValue(4);
            armed.set(true);
            waiter.add(g.callAsync(chat("waiter", 20), silent));
            assertThat(inRecheck.await(10, TimeUnit.SECONDS)).as("the waiter looks for a lease")
                    .isTrue();

            g.close();
            assertThat(waiter.get(0)).failsWithin(Duration.ofSeconds(10)).withThrowableThat().havingCause()
                    .isInstanceOf(RejectedExecutionException.class)
                    .withMessageContaining("closed");
            shown = !waiterEndedBeforeRefund.get();
        }
        assertThat(shown).as("close() met a call at its upstream before the waiting call in some round").isTrue();
    }

    /**
     * One key of 2,000 tokens a minute and no header to learn from: only the governor's own accounting decides, and
     * tokens come back only by a settlement (or in a minute).
     */
    private static ProviderProfiles twoThousandTokensAMinute(boolean adaptive) {
        return ProviderProfiles.fromYaml("""
                providers:
                  sim:
                    dialect: none
                    adaptive: %s
                    encoding: o200k_base
                    window: 1m
                    guard: 0s
                    models:
                      gpt-4o-mini: {rpm: 1000, tpm: 2000}
                """.formatted(adaptive));
    }

    /** A 200 reporting 16 tokens used. */
    private static UpstreamResponse answered() {
        return UpstreamResponse.of(200, Map.of(), "{\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":6}}");
    }

    /** Waits up to 20 s for {@code condition}, then asserts it. */
    private static void await(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean() && System.nanoTime() < end) {
            Thread.sleep(5);
        }
        assertThat(condition.getAsBoolean()).isTrue();
    }

    private static void awaitUninterruptibly(CountDownLatch latch) {
        boolean interrupted = false;
        while (true) {
            try {
                latch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    @DisplayName("Closing the governor gives back what its calls at the upstream reserved beyond the request and "
            + "prompt: their output tokens and concurrency leases, which another governor on the backend can take")
    void closeGivesBackLeases() {
        MemoryBackend backend = MemoryBackend.create();
        Governor g = Governor.builder(backend).profiles(PROFILES).pool(MODEL, ProviderKey.of("sim", "sk-1")).build();
        AtomicInteger sent = new AtomicInteger();
        List<CompletableFuture<UpstreamResponse>> attempts = new CopyOnWriteArrayList<>();
        Upstream silent = attempt -> {
            sent.incrementAndGet();
            CompletableFuture<UpstreamResponse> never = new CompletableFuture<>(); // never answers
            attempts.add(never);
            return never;
        };
        for (int i = 0; i < 4; i++) { // all 4 concurrent leases
            g.callAsync(chat("call " + i, 20), silent);
        }
        for (int i = 0; i < 500 && sent.get() < 4; i++) {
            sleep(10);
        }
        assertThat(sent).hasValue(4);
        g.close();
        assertThat(g.stats().tokensRefunded()).as("the output tokens of the 4 calls").isEqualTo(4 * 20);
        // a sender that had counted its attempt but not yet published it to close() cancels it itself, just after
        for (int i = 0; i < 1000 && !attempts.stream().allMatch(CompletableFuture::isCancelled); i++) {
            sleep(10);
        }
        assertThat(attempts).hasSize(4).allMatch(CompletableFuture::isCancelled);

        Governor h = open(Governor.builder(backend).profiles(PROFILES).pool(MODEL, ProviderKey.of("sim", "sk-1"))
                .maxWait(Duration.ofSeconds(5)).build());
        for (int i = 0; i < 4; i++) {
            h.callAsync(chat("again " + i, 20), silent);
        }
        for (int i = 0; i < 500 && sent.get() < 8; i++) {
            sleep(10);
        }
        assertThat(sent).as("the 4 leases were free again").hasValue(8);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    @DisplayName("A 429 cools the key down; the retry comes after the provider's retryDelay and succeeds")
    void retryAfterCooldown() {
        // The profile allows 10 per window, the provider only 1: Gemini's dialect, so nothing to learn in advance.
        ProviderSimulator sim = simulator(ProviderSimulator.builder().dialect(Dialect.GEMINI)
                .limits(SimulatorLimits.perMinute(1, 0).withWindow(Duration.ofSeconds(2))));
        Governor g = governor(Governor.builder(MemoryBackend.create()).pool(MODEL, ProviderKey.of("simgemini", "k")));
        assertThat(g.callAsync(chat("first", 20), upstream(sim)).join().attempts()).isEqualTo(1);
        GovernedResponse second = g.callAsync(chat("second", 20), upstream(sim)).join();
        assertThat(second.response().status()).isEqualTo(200);
        assertThat(second.attempts()).isEqualTo(2);
        assertThat(sim.stats().rejected429()).isEqualTo(1);
        GovernorStats s = g.stats();
        assertThat(s.rateLimited()).isEqualTo(1);
        assertThat(s.cooldowns()).isEqualTo(1);
        assertThat(s.retries()).isEqualTo(1);
        // Adaptive (no published limits): the request limit was cut multiplicatively.
        Limit requests = g.policy(MODEL, ProviderKey.of("simgemini", "k")).limit(0);
        assertThat(requests.capacity()).isEqualTo(7);
    }

    @Test
    @DisplayName("400 and 401 are not retried; after maxAttempts the last 429 is handed back")
    void nonRetryable() {
        ProviderSimulator sim = simulator(ProviderSimulator.builder());
        Governor g = governor(Governor.builder(MemoryBackend.create())
                .pool(MODEL, ProviderKey.of("sim", "sk-invalid-key")));
        GovernedResponse r = g.callAsync(chat("x", 5), upstream(sim)).join();
        assertThat(r.response().status()).isEqualTo(401);
        assertThat(r.attempts()).isEqualTo(1);

        AtomicInteger sent = new AtomicInteger();
        Governor always429 = governor(Governor.builder(MemoryBackend.create()).name("g429")
                .pool(MODEL, ProviderKey.of("sim", "sk-1")));
        GovernedResponse last = always429.callAsync(chat("x", 5), a -> {
            sent.incrementAndGet();
            return CompletableFuture.completedFuture(UpstreamResponse.of(429, Map.of("retry-after-ms", List.of("5")),
                    "{\"error\":{\"type\":\"requests\",\"code\":\"rate_limit_exceeded\",\"message\":\"slow down\"}}"));
        }).join();
        assertThat(last.response().status()).isEqualTo(429);
        assertThat(last.attempts()).isEqualTo(3);
        assertThat(sent.get()).isEqualTo(3);
    }

    @Test
    @DisplayName("A daily-quota 429 is not retried on that key; the pool moves on to another key")
    void dailyQuotaMovesOn() {
        ProviderSimulator sim = simulator(ProviderSimulator.builder()
                .keyLimits("sk-small", SimulatorLimits.none().withRequestsPerDay(1, Duration.ofHours(1))));
        ProviderKey small = ProviderKey.of("sim", "sk-small");
        ProviderKey big = ProviderKey.of("sim", "sk-big");
        Governor g = governor(Governor.builder(MemoryBackend.create()).pool(MODEL, small, big));
        List<ProviderKey> used = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            GovernedResponse r = g.callAsync(chat("call " + i, 5), upstream(sim)).join();
            assertThat(r.response().status()).isEqualTo(200);
            used.add(r.key());
        }
        assertThat(used).contains(big);
        assertThat(sim.stats().rejectedDaily()).isLessThanOrEqualTo(1);
        assertThat(g.stats().failed()).isZero();

        Governor alone = governor(Governor.builder(MemoryBackend.create()).name("alone").pool(MODEL, small));
        GovernedResponse refused = alone.callAsync(chat("again", 5), upstream(sim)).join();
        assertThat(refused.response().status()).isEqualTo(429);
        assertThat(refused.attempts()).as("daily quota: no retry").isEqualTo(1);
    }

    @Test
    @DisplayName("Concurrency is a lease: never more calls in flight than the profile allows")
    void concurrencyLeases() {
        ProviderSimulator sim = simulator(ProviderSimulator.builder().latency(Duration.ofMillis(100))
                .limits(SimulatorLimits.none().withConcurrent(4)));
        Governor g = governor(Governor.builder(MemoryBackend.create()).pool(MODEL, ProviderKey.of("sim", "sk-1")));
        List<CompletableFuture<GovernedResponse>> calls = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            calls.add(g.callAsync(chat("c" + i, 5), upstream(sim)));
        }
        calls.forEach(c -> assertThat(c.join().response().status()).isEqualTo(200));
        assertThat(sim.stats().rejectedConcurrency()).isZero();
        assertThat(sim.stats().maxInFlight()).isLessThanOrEqualTo(4);
    }

    @Test
    @DisplayName("Sluice believes the provider: fewer remaining are consumed, a lower limit header changes the policy")
    void believesTheProvider() {
        ProviderKey key = ProviderKey.of("sim", "sk-1");
        Governor g = governor(Governor.builder(MemoryBackend.create()).pool(MODEL, key));
        GovernedResponse r = g.callAsync(chat("x", 5), a -> CompletableFuture.completedFuture(UpstreamResponse.of(200,
                Map.of("x-ratelimit-limit-requests", List.of("10"), "x-ratelimit-remaining-requests", List.of("0")),
                "{\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":5}}"))).join();
        assertThat(r.response().status()).isEqualTo(200);
        // Sluice thought 9 of 10 remained after this call, one call in flight: 8 more were consumed.
        assertThat(g.stats().reconciled()).isEqualTo(8);
        assertThat(g.stats().limitChanges()).isZero();

        Governor h = governor(Governor.builder(MemoryBackend.create()).name("h").pool(MODEL, key));
        h.callAsync(chat("x", 5), a -> CompletableFuture.completedFuture(UpstreamResponse.of(200,
                Map.of("x-ratelimit-limit-requests", List.of("6")),
                "{\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":5}}"))).join();
        assertThat(h.policy(MODEL, key).limit(0).capacity()).isEqualTo(6);
        assertThat(h.stats().limitChanges()).isEqualTo(1);
    }

    @Test
    @DisplayName("Usage beyond the reservation is charged, carried as debt when it does not fit")
    void underEstimateIsCharged() {
        Governor g = governor(Governor.builder(MemoryBackend.create()).pool(MODEL, ProviderKey.of("sim", "sk-1")));
        g.callAsync(chat("x", 5), a -> CompletableFuture.completedFuture(UpstreamResponse.of(200, Map.of(),
                "{\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":5}}"))).join();
        GovernorStats s = g.stats();
        assertThat(s.tokensDebt()).isEqualTo(1005 - s.tokensReserved());
        assertThat(s.promptEstimateError()).isEqualTo(1000 - (s.tokensReserved() - 5));
    }

    @Test
    @DisplayName("Models without a profile fail clearly, at build time for pools and at call time otherwise")
    void unknownModels() {
        assertThatThrownBy(() -> Governor.builder(MemoryBackend.create()).profiles(PROFILES)
                .pool("mystery", ProviderKey.of("sim", "k")).build())
                .isInstanceOf(UnknownModelException.class).hasMessageContaining("mystery");
        Governor g = governor(Governor.builder(MemoryBackend.create()).pool(MODEL, ProviderKey.of("sim", "k")));
        assertThat(g.callAsync(ChatRequest.of("other", List.of(ChatRequest.Message.of("user", "x")), 5L),
                a -> CompletableFuture.failedFuture(new AssertionError("never sent"))))
                .failsWithin(Duration.ofSeconds(5))
                .withThrowableOfType(java.util.concurrent.ExecutionException.class)
                .withCauseInstanceOf(UnknownModelException.class);
    }

    @Test
    @DisplayName("A call that can never fit fails at once; an upstream that always throws fails after 3 attempts")
    void failures() {
        Governor g = governor(Governor.builder(MemoryBackend.create()).pool(MODEL, ProviderKey.of("sim", "k")));
        assertThat(g.callAsync(chat("x", 200_000), a -> CompletableFuture.failedFuture(new AssertionError())))
                .failsWithin(Duration.ofSeconds(5)).withThrowableOfType(java.util.concurrent.ExecutionException.class)
                .withCauseInstanceOf(GovernorException.class).withMessageContaining("admits at most")
                .isNotNull();
        AtomicInteger sent = new AtomicInteger();
        assertThat(g.callAsync(chat("x", 5), a -> {
            sent.incrementAndGet();
            return CompletableFuture.failedFuture(new java.io.IOException("connection refused"));
        })).failsWithin(Duration.ofSeconds(10)).withThrowableOfType(java.util.concurrent.ExecutionException.class)
                .withMessageContaining("connection refused");
        assertThat(sent.get()).isEqualTo(3);
    }
}

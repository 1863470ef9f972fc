package dev.sluice.governor.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.langchain4j.exception.HttpException;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.sluice.governor.Governor;
import dev.sluice.governor.ProviderKey;
import dev.sluice.governor.ProviderProfiles;
import dev.sluice.memory.MemoryBackend;
import dev.sluice.testkit.simulator.ProviderSimulator;
import dev.sluice.testkit.simulator.SimulatorLimits;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class GovernedHttpClientTest {

    static final ProviderProfiles PROFILES = ProviderProfiles.fromYaml("""
            providers:
              sim:
                dialect: openai
                encoding: o200k_base
                window: 2s
                guard: 300ms   # the first call also starts an HTTP client: a late arrival at the provider
                models:
                  gpt-4o-mini: {rpm: 3, tpm: 100000}
            """);

    private ProviderSimulator sim;
    private Governor governor;

    @BeforeEach
    void start() throws Exception {
        sim = ProviderSimulator.builder()
                .limits(SimulatorLimits.perMinute(3, 100_000).withWindow(Duration.ofSeconds(2)))
                .start();
        // Loads the JDK's HTTP client (a second or more on a cold, busy machine) before the governed calls: the
        // governor's guard covers a call's usual way to the provider, not a class loading on the first one.
        java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create(sim.baseUrl() + "/warm-up")).GET().build(),
                java.net.http.HttpResponse.BodyHandlers.discarding());
        governor = Governor.builder(MemoryBackend.create()).profiles(PROFILES)
                .pool("gpt-4o-mini", ProviderKey.of("sim", "sk-pool", sim.baseUrl()))
                .build();
    }

    @AfterEach
    void stop() {
        governor.close();
        sim.close();
    }

    @Test
    @DisplayName("OpenAiChatModel through the adapter: answers, governed (no 429 though over the provider's limit)")
    void openAiChatModel() {
        OpenAiChatModel model = OpenAiChatModel.builder()
                .baseUrl(sim.baseUrl())
                .apiKey("sk-ignored-the-pool-decides")
                .modelName("gpt-4o-mini")
                .maxTokens(40)
                .httpClientBuilder(new GovernedHttpClientBuilder(governor))
                .build();
        for (int i = 0; i < 5; i++) {
            String answer = model.chat("Question number " + i);
            assertThat(answer).isNotBlank();
        }
        assertThat(sim.stats().admitted()).isEqualTo(5);
        assertThat(sim.stats().rejected429()).isZero();
        assertThat(governor.stats().calls()).isEqualTo(5);
        assertThat(governor.stats().waited()).as("the 4th and 5th calls waited for the window")
                .isGreaterThan(Duration.ZERO);
        assertThat(governor.stats().tokensActual()).isEqualTo(sim.stats().totalTokens());
    }

    @Test
    @DisplayName("OpenAiStreamingChatModel through the adapter: the stream goes through as it arrives (its first "
            + "piece reaches the handler before the call settles) and settles on its usage before it completes")
    void streamingModel() throws Exception {
        OpenAiStreamingChatModel model = OpenAiStreamingChatModel.builder()
                .baseUrl(sim.baseUrl())
                .apiKey("sk-x")
                .modelName("gpt-4o-mini")
                .maxTokens(40)
                .httpClientBuilder(new GovernedHttpClientBuilder(governor))
                .build();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        StringBuilder text = new StringBuilder();
        java.util.List<Long> settledAtPartials = new java.util.concurrent.CopyOnWriteArrayList<>();
        long[] settledAtEnd = {-1};
        java.util.Set<String> readers = java.util.concurrent.ConcurrentHashMap.newKeySet();
        model.chat("Stream me", new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) {
                settledAtPartials.add(governor.stats().tokensActual());
                readers.add(Thread.currentThread().getName());
                text.append(partial);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                settledAtEnd[0] = governor.stats().tokensActual();
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse r = done.get(30, TimeUnit.SECONDS);
        assertThat(text.toString()).isNotBlank().isEqualTo(r.aiMessage().text());
        assertThat(settledAtPartials).as("nothing settled while the stream was read").isNotEmpty().containsOnly(0L);
        assertThat(readers).as("read on the adapter's own threads, not the common pool")
                .allMatch(n -> n.startsWith("sluice-langchain4j-stream"));
        assertThat(settledAtEnd[0]).as("settled on the stream's usage").isEqualTo(sim.stats().totalTokens())
                .isPositive();
        assertThat(r.tokenUsage().totalTokenCount()).isEqualTo((int) sim.stats().totalTokens());
        assertThat(governor.stats().calls()).isEqualTo(1);
        assertThat(sim.stats().streamed()).isEqualTo(1);
    }

    @Test
    @DisplayName("A streamed call whose final answer is not 2xx reaches the streaming handler's onError as "
            + "HttpException with the provider's status, once, and nothing streams")
    void streamingError() throws Exception {
        Governor bad = Governor.builder(MemoryBackend.create()).profiles(PROFILES).name("bad-stream")
                .pool("gpt-4o-mini", ProviderKey.of("sim", "sk-invalid-key", sim.baseUrl())).build();
        try {
            OpenAiStreamingChatModel model = OpenAiStreamingChatModel.builder().baseUrl(sim.baseUrl()).apiKey("k")
                    .modelName("gpt-4o-mini").httpClientBuilder(new GovernedHttpClientBuilder(bad)).build();
            CompletableFuture<Throwable> failed = new CompletableFuture<>();
            AtomicInteger partials = new AtomicInteger();
            AtomicInteger errors = new AtomicInteger();
            model.chat("hi", new StreamingChatResponseHandler() {
                @Override
                public void onPartialResponse(String partial) {
                    partials.incrementAndGet();
                }

                @Override
                public void onCompleteResponse(ChatResponse response) {
                    failed.completeExceptionally(new AssertionError("completed: " + response));
                }

                @Override
                public void onError(Throwable error) {
                    errors.incrementAndGet();
                    failed.complete(error);
                }
            });
            Throwable e = failed.get(30, TimeUnit.SECONDS);
            assertThat(e).hasMessageContaining("Incorrect API key");
            Throwable http = e;
            while (http != null && !(http instanceof HttpException)) {
                http = http.getCause();
            }
            assertThat(http).isInstanceOf(HttpException.class);
            assertThat(((HttpException) http).statusCode()).isEqualTo(401);
            TimeUnit.MILLISECONDS.sleep(200); // a second onError, were there one, would come now
            assertThat(errors.get()).isEqualTo(1);
            assertThat(partials.get()).isZero();
        } finally {
            bad.close();
        }
    }

    /** A chat completion chunk of a stream, as OpenAI writes it. */
    private static String chunk(String delta, @Nullable String finish) {
        return "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\","
                + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + delta + "\"},\"finish_reason\":"
                + (finish == null ? "null" : "\"" + finish + "\"") + "}],\"usage\":null}";
    }

    /**
     * A provider on a real Vert.x server whose chat completions the test writes: {@code answer} gets each request's
     * response, on the server's event loop.
     */
    private static final class Upstream implements AutoCloseable {
        final Vertx vertx = Vertx.vertx();
        final AtomicInteger requests = new AtomicInteger();
        final HttpServer server;

        Upstream(java.util.function.Consumer<HttpServerResponse> answer) throws Exception {
            server = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(b -> {
                requests.incrementAndGet();
                HttpServerResponse resp = req.response().setChunked(true)
                        .putHeader("content-type", "text/event-stream");
                answer.accept(resp);
            })).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }

        String baseUrl() {
            return "http://127.0.0.1:" + server.actualPort() + "/v1";
        }

        @Override
        public void close() throws Exception {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    /** What a streaming handler heard. */
    private static final class Heard implements StreamingChatResponseHandler {
        final StringBuilder text = new StringBuilder();
        final AtomicInteger errors = new AtomicInteger();
        final CompletableFuture<@Nullable Throwable> end = new CompletableFuture<>();
        final CompletableFuture<Void> firstPartial = new CompletableFuture<>();

        @Override
        public synchronized void onPartialResponse(String partial) {
            text.append(partial);
            firstPartial.complete(null);
        }

        @Override
        public void onCompleteResponse(ChatResponse response) {
            end.complete(null);
        }

        @Override
        public void onError(Throwable error) {
            errors.incrementAndGet();
            end.complete(error);
        }
    }

    private Governor governorOn(Upstream upstream, String name) {
        return Governor.builder(MemoryBackend.create()).profiles(PROFILES).name(name)
                .pool("gpt-4o-mini", ProviderKey.of("sim", "sk-pool", upstream.baseUrl())).build();
    }

    private static OpenAiStreamingChatModel streamingModel(Upstream upstream, Governor g) {
        return OpenAiStreamingChatModel.builder().baseUrl(upstream.baseUrl()).apiKey("sk-x").modelName("gpt-4o-mini")
                .maxTokens(40).httpClientBuilder(new GovernedHttpClientBuilder(g)).build();
    }

    @ParameterizedTest(name = "lines ending in {0}")
    @ValueSource(strings = {"LF", "CRLF", "CR"})
    @DisplayName("A stream settles on its usage event whichever line ends SSE allows it uses")
    void streamLineEnds(String ends) throws Exception {
        String eol = switch (ends) {
            case "LF" -> "\n";
            case "CRLF" -> "\r\n";
            default -> "\r";
        };
        try (Upstream upstream = new Upstream(resp -> resp.end(chunk("Hel", null) + eol + eol
                + chunk("lo", "stop") + eol + eol
                + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
                + "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}" + eol + eol
                + "data: [DONE]" + eol + eol))) {
            Governor g = governorOn(upstream, "line-ends-" + ends);
            try {
                Heard heard = new Heard();
                streamingModel(upstream, g).chat("hi", heard);
                assertThat(heard.end.get(30, TimeUnit.SECONDS)).isNull();
                assertThat(heard.text.toString()).isEqualTo("Hello");
                assertThat(g.stats().tokensActual()).as("settled on the usage event").isEqualTo(11);
                assertThat(g.stats().unsettled()).isZero();
            } finally {
                g.close();
            }
        }
    }

    @Test
    @DisplayName("An event after the usage event that carries a usage object deeper down (not its own) does not hide"
            + " the usage the call settles on")
    void nestedUsageAfterTheUsageEvent() throws Exception {
        try (Upstream upstream = new Upstream(resp -> resp.end(chunk("Hi", "stop") + "\n\n"
                + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
                + "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}\n\n"
                + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
                + "\"provider_stats\":{\"usage\":{\"queue_ms\":3}}}\n\n"
                + "data: [DONE]\n\n"))) {
            Governor g = governorOn(upstream, "nested-usage");
            try {
                Heard heard = new Heard();
                streamingModel(upstream, g).chat("hi", heard);
                assertThat(heard.end.get(30, TimeUnit.SECONDS)).isNull();
                assertThat(g.stats().tokensActual()).isEqualTo(10);
                assertThat(g.stats().unsettled()).isZero();
            } finally {
                g.close();
            }
        }
    }

    @Test
    @DisplayName("A stream the provider breaks off after two pieces: the handler hears one error after them, the call"
            + " is not retried (the answer began) and keeps its reservation")
    void streamBrokenOff() throws Exception {
        try (Upstream upstream = new Upstream(resp -> {
            resp.write(chunk("Hel", null) + "\n\n" + chunk("lo", null) + "\n\n");
            Vertx.currentContext().owner().setTimer(200, id -> resp.reset()); // the connection goes: no usage, no [DONE]
        })) {
            Governor g = governorOn(upstream, "broken-off");
            try {
                Heard heard = new Heard();
                streamingModel(upstream, g).chat("hi", heard);
                assertThat(heard.end.get(30, TimeUnit.SECONDS)).isNotNull();
                TimeUnit.MILLISECONDS.sleep(200); // a second end, were there one, would come now
                assertThat(heard.errors.get()).isEqualTo(1);
                assertThat(heard.text.toString()).isEqualTo("Hello");
                assertThat(upstream.requests.get()).isEqualTo(1);
                assertThat(g.stats().attempts()).isEqualTo(1);
                assertThat(g.stats().retries()).isZero();
                assertThat(g.stats().tokensActual()).isZero();
                assertThat(g.stats().tokensRefunded()).as("the reservation is kept").isZero();
            } finally {
                g.close();
            }
        }
    }

    @Test
    @DisplayName("Closing the governor while a stream is read closes the stream: the provider sees its connection go,"
            + " the handler hears one error")
    void governorClosedMidStream() throws Exception {
        CompletableFuture<Void> upstreamClosed = new CompletableFuture<>();
        try (Upstream upstream = new Upstream(resp -> {
            resp.closeHandler(v -> upstreamClosed.complete(null));
            resp.write(chunk("Hel", null) + "\n\n"); // and then nothing more, the connection left open
        })) {
            Governor g = governorOn(upstream, "closed-mid-stream");
            Heard heard = new Heard();
            streamingModel(upstream, g).chat("hi", heard);
            heard.firstPartial.get(30, TimeUnit.SECONDS);
            g.close();
            assertThat(heard.end.get(30, TimeUnit.SECONDS)).isNotNull();
            upstreamClosed.get(30, TimeUnit.SECONDS);
            TimeUnit.MILLISECONDS.sleep(200); // a second end, were there one, would come now
            assertThat(heard.errors.get()).isEqualTo(1);
            assertThat(heard.text.toString()).isEqualTo("Hel");
        }
    }

    @Test
    @DisplayName("A non-2xx final answer reaches langchain4j as HttpException; setters chain; no governor is an error")
    void errorsAndBuilder() {
        Governor bad = Governor.builder(MemoryBackend.create()).profiles(PROFILES).name("bad")
                .pool("gpt-4o-mini", ProviderKey.of("sim", "sk-invalid-key", sim.baseUrl())).build();
        try {
            GovernedHttpClientBuilder b = new GovernedHttpClientBuilder(bad);
            assertThat(b.connectTimeout(Duration.ofSeconds(3)).readTimeout(Duration.ofSeconds(9))).isSameAs(b);
            OpenAiChatModel model = OpenAiChatModel.builder().baseUrl(sim.baseUrl()).apiKey("k")
                    .modelName("gpt-4o-mini").maxRetries(0).httpClientBuilder(b).build();
            assertThatThrownBy(() -> model.chat("hi")).hasMessageContaining("Incorrect API key");
        } finally {
            bad.close();
        }
        GovernedHttpClientBuilder.setDefaultGovernor(null);
        assertThatThrownBy(() -> new GovernedHttpClientBuilderFactory().create().build())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("setDefaultGovernor");
        GovernedHttpClientBuilder.setDefaultGovernor(governor);
        try {
            assertThat(new GovernedHttpClientBuilderFactory().create().build()).isNotNull();
        } finally {
            GovernedHttpClientBuilder.setDefaultGovernor(null);
        }
        assertThat(HttpException.class).isNotNull();
    }
}

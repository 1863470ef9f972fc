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
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

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
            java.util.concurrent.atomic.AtomicInteger partials = new java.util.concurrent.atomic.AtomicInteger();
            java.util.concurrent.atomic.AtomicInteger errors = new java.util.concurrent.atomic.AtomicInteger();
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

package dev.sluice.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.http.client.jdk.JdkHttpClientBuilder;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.sluice.testkit.simulator.ProviderSimulator;
import dev.sluice.testkit.simulator.SimulatorLimits;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** langchain4j's OpenAI models, pointed at the gateway, work as they would against OpenAI. */
class LangChain4jTest {

    static ProviderSimulator sim;
    static Gateway gateway;

    @BeforeAll
    static void start() throws Exception {
        sim = ProviderSimulator.builder().limits(SimulatorLimits.perMinute(1000, 1_000_000))
                .latency(Duration.ofMillis(5)).start();
        GatewayHttpTest.warmUp(sim.baseUrl() + "/chat/completions");
        gateway = Gateway.start(GatewayConfigParser.create().parse("""
                server: {port: 0, reloadInterval: 0}
                providers:
                  sim: {baseUrl: "%s", keys: [{value: sk-up}], limits: {requestsPerMinute: 1000}}
                models:
                  gpt-4o-mini: {}
                tenants:
                  app: {keys: [{value: sk-app}], limits: {tokensPerMinute: 100000}}
                """.formatted(sim.baseUrl())));
    }

    @AfterAll
    static void stop() {
        gateway.close();
        sim.close();
    }

    @Test
    @DisplayName("OpenAiChatModel gets an answer and its token usage through the gateway")
    void chatModel() {
        // langchain4j's own JDK client, explicitly: the governor's governed client is on this classpath too
        OpenAiChatModel model = OpenAiChatModel.builder().httpClientBuilder(new JdkHttpClientBuilder())
                .baseUrl(gateway.baseUrl()).apiKey("sk-app")
                .modelName("gpt-4o-mini").maxTokens(40).timeout(Duration.ofSeconds(20)).build();
        ChatResponse r = model.chat(dev.langchain4j.data.message.UserMessage.from("Hello, gateway"));
        assertThat(r.aiMessage().text()).isNotBlank();
        assertThat(r.tokenUsage().totalTokenCount()).isPositive();
    }

    @Test
    @DisplayName("OpenAiStreamingChatModel receives partial answers, then the complete one with its usage")
    void streamingModel() throws Exception {
        OpenAiStreamingChatModel model = OpenAiStreamingChatModel.builder().httpClientBuilder(new JdkHttpClientBuilder())
                .baseUrl(gateway.baseUrl())
                .apiKey("sk-app").modelName("gpt-4o-mini").maxTokens(40).timeout(Duration.ofSeconds(20)).build();
        StringBuilder partial = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        model.chat("Hello, streaming gateway", new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String token) {
                partial.append(token);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse r = done.get(30, TimeUnit.SECONDS);
        assertThat(partial.toString()).isNotBlank();
        assertThat(r.aiMessage().text()).isEqualTo(partial.toString());
        assertThat(sim.stats().streamed()).isPositive();
    }
}

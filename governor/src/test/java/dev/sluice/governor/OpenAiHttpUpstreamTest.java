package dev.sluice.governor;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link OpenAiHttpUpstream} against a real socket. */
class OpenAiHttpUpstreamTest {

    @Test
    @Timeout(60)
    @DisplayName("Cancelling an attempt aborts its HTTP exchange (the JDK client's futures pass a dependent's"
            + " cancellation on): the provider sees the connection close")
    void cancelAbortsTheExchange() throws Exception {
        try (ServerSocket provider = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            CompletableFuture<Void> requestIn = new CompletableFuture<>();
            CompletableFuture<Boolean> closedByClient = CompletableFuture.supplyAsync(() -> {
                try (Socket s = provider.accept()) {
                    s.setSoTimeout(30_000);
                    InputStream in = s.getInputStream();
                    byte[] buf = new byte[4096];
                    int n;
                    while ((n = in.read(buf)) >= 0) {
                        if (n > 0) {
                            requestIn.complete(null); // the request, then nothing: this provider never answers
                        }
                    }
                    return true;
                } catch (IOException e) {
                    return e.getMessage() != null && e.getMessage().contains("reset");
                }
            });
            OpenAiHttpUpstream upstream = new OpenAiHttpUpstream(HttpClient.newHttpClient(),
                    "http://127.0.0.1:" + provider.getLocalPort() + "/v1", Duration.ofSeconds(120));
            ChatRequest request = ChatRequest.of("gpt-4o-mini", List.of(ChatRequest.Message.of("user", "hello")), 10L);
            CompletionStage<UpstreamResponse> attempt = upstream.send(new Attempt(request,
                    ProviderKey.of("openai", "sk-test"), 1));
            requestIn.get(30, TimeUnit.SECONDS); // the request reached the provider
            assertThat(closedByClient).isNotDone();
            assertThat(attempt.toCompletableFuture().cancel(true)).isTrue();
            assertThat(closedByClient.get(30, TimeUnit.SECONDS)).as("the connection closed by the client").isTrue();
        }
    }
}

package dev.sluice.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reloading the file without losing limiter state, and draining calls in flight on shutdown. */
class GatewayLifecycleTest {

    static final String CONFIG = """
            server: {port: 0, reloadInterval: 100ms}
            providers:
              stub: {baseUrl: "%s", keys: [{value: sk-up}], limits: {requestsPerMinute: 1000}}
            models:
              gpt-3.5-turbo-instruct: {}
              drip-model: {}
            tenants:
              one: {keys: [{value: sk-one}], limits: {requestsPerMinute: 1}}
            %s
            """;

    static HttpResponse<String> completion(HttpClient http, Gateway g, String key) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(g.baseUrl() + "/completions"))
                .header("authorization", "Bearer " + key).header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"hi\",\"max_tokens\":3}")).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    @DisplayName("A changed file is applied while running (a new tenant's key works) and what tenants consumed "
            + "carries over; an invalid change is ignored")
    void reload(@TempDir Path dir) throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            Path file = dir.resolve("gateway.yaml");
            Files.writeString(file, CONFIG.formatted(stub.baseUrl(), ""));
            try (Gateway g = Gateway.start(GatewayConfigParser.create().load(file), file)) {
                HttpClient http = HttpClient.newHttpClient();
                assertThat(completion(http, g, "sk-one").statusCode()).isEqualTo(200);
                assertThat(completion(http, g, "sk-two").statusCode()).isEqualTo(401);

                Files.writeString(file, "providers: {stub: {baseUrl: nope}}");
                touch(file, 1);
                Files.writeString(file, CONFIG.formatted(stub.baseUrl(), "  two: {keys: [{value: sk-two}]}"));
                touch(file, 2);
                long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                while (g.config().tenants().size() < 2 && System.nanoTime() < end) {
                    Thread.sleep(50);
                }
                assertThat(completion(http, g, "sk-two").statusCode()).isEqualTo(200);
                // tenant one used its 1 request per minute before the reload: still used
                assertThat(completion(http, g, "sk-one").statusCode()).isEqualTo(429);
            }
        }
    }

    @Test
    @DisplayName("An invalid file is refused with the field named")
    void invalidChangeNamesField() {
        GatewayConfigParser p = GatewayConfigParser.create();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> p.parse("providers: {stub: {baseUrl: nope}}"))
                .isInstanceOf(GatewayConfigException.class).hasMessageContaining("providers.stub.baseUrl");
    }

    private static void touch(Path file, int seconds) throws Exception {
        Files.setLastModifiedTime(file, FileTime.from(Instant.now().plusSeconds(seconds)));
    }

    @Test
    @DisplayName("Shutdown lets a stream in flight finish, and refuses new calls meanwhile")
    void drain() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            Gateway g = Gateway.start(GatewayConfigParser.create().parse(CONFIG.formatted(stub.baseUrl(), "")));
            HttpClient http = HttpClient.newHttpClient();
            CompletableFuture<HttpResponse<String>> stream = http.sendAsync(HttpRequest.newBuilder(
                    URI.create(g.baseUrl() + "/chat/completions")).header("authorization", "Bearer sk-one")
                    .header("content-type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                            "{\"model\":\"drip-model\",\"stream\":true,\"max_tokens\":60,"
                                    + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (!stub.dripStarted.get() && System.nanoTime() < end) {
                Thread.sleep(10);
            }
            CompletableFuture<Void> closing = CompletableFuture.runAsync(g::close);
            boolean draining = false;
            while (!draining && !stream.isDone() && System.nanoTime() < end) {
                HttpResponse<String> h = http.send(HttpRequest.newBuilder(URI.create(g.baseUrl().replace("/v1", "")
                        + "/health")).build(), HttpResponse.BodyHandlers.ofString());
                draining = h.body().contains("\"draining\":true");
            }
            if (draining && !stream.isDone()) {
                // the stream is still running: a new call is refused
                assertThat(completion(http, g, "sk-two-unknown").statusCode()).isEqualTo(503);
            }
            HttpResponse<String> r = stream.get();
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body().strip()).endsWith("data: [DONE]");
            assertThat(r.body().split("\"content\":\"x\"", -1).length - 1).isEqualTo(60);
            closing.get();
        }
    }
}

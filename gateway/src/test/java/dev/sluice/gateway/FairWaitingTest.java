package dev.sluice.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** Tenants take turns for the provider's quota while they wait. */
class FairWaitingTest {

    @Test
    @DisplayName("A tenant with 2 waiting calls is served in turn with a tenant that queued 10 before it, not after "
            + "all of them")
    void tenantsTakeTurns() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            String yaml = """
                    server: {port: 0, reloadInterval: 0}
                    queue: {maxWait: 20s}
                    providers:
                      stub:
                        baseUrl: "%s"
                        keys: [{value: sk-up}]
                        # 4 a second: a slot every 250 ms, time enough for the small calls to reach the waiting
                        # room on a slow machine before the big ones ahead of them run out
                        limits: {custom: [{dimension: requests, capacity: 4, period: 1s, algorithm: gcra}]}
                    models:
                      gpt-3.5-turbo-instruct: {}
                    tenants:
                      big: {keys: [{value: sk-big}]}
                      small: {keys: [{value: sk-small}]}
                    """.formatted(stub.baseUrl());
            try (Gateway g = Gateway.start(GatewayConfigParser.create().parse(yaml))) {
                HttpClient http = HttpClient.newHttpClient();
                List<String> order = Collections.synchronizedList(new ArrayList<>());
                List<CompletableFuture<?>> calls = new ArrayList<>();
                for (int i = 0; i < 10; i++) {
                    calls.add(call(http, g, "sk-big", order));
                }
                long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                while (stub.completions.get() < 2 && System.nanoTime() < end) {
                    Thread.sleep(5); // the big tenant's calls are queued; the first went through
                }
                calls.add(call(http, g, "sk-small", order));
                calls.add(call(http, g, "sk-small", order));
                for (CompletableFuture<?> c : calls) {
                    c.get();
                }
                assertThat(order).hasSize(12).allMatch(s -> s.endsWith(":200"));
                int lastSmall = Math.max(order.lastIndexOf("sk-small:200"), order.indexOf("sk-small:200"));
                // strictly in turn, the small tenant's 2nd call completes within about 4 places after it queued
                assertThat(lastSmall).isLessThan(9);
            }
        }
    }

    @Test
    @DisplayName("A small call that cannot wait as long as a big call ahead of it is served at once if it fits, not "
            + "refused with the big call's wait")
    void smallCallNotRefusedForBigOne() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            String yaml = """
                    server: {port: 0, reloadInterval: 0}
                    queue: {maxWait: 6s}
                    providers:
                      stub:
                        baseUrl: "%s"
                        keys: [{value: sk-up}]
                        limits: {custom: [{dimension: tokens, capacity: 1000, period: 4s, algorithm: sliding_log}]}
                    models:
                      usage-model: {}
                    tenants:
                      a: {keys: [{value: sk-a}], limits: {requestsPerMinute: 1000}}
                      b: {keys: [{value: sk-b}], limits: {requestsPerMinute: 1000}}
                      c: {keys: [{value: sk-c}], limits: {requestsPerMinute: 1000}}
                    """.formatted(stub.baseUrl());
            try (Gateway g = Gateway.start(GatewayConfigParser.create().parse(yaml))) {
                assertThat(chat(g, "sk-c", 1).get().statusCode()).isEqualTo(200); // warm: the rest comes at once
                // about 600 of the 1000 tokens, used: the key is too full for 500 more for 4 s
                assertThat(chat(g, "sk-a", 580).get().statusCode()).isEqualTo(200);
                // about 500: waits in the pool's waiting room until then, and holds the key for 4 s more
                CompletableFuture<HttpResponse<String>> next = chat(g, "sk-a", 490);
                ReloadWhileWaitingTest.await(() -> g.waiting() == 1);
                double granted = ReloadWhileWaitingTest.decisions(g, "granted");
                // about 900: its turn comes after that; its deadline passes first
                CompletableFuture<HttpResponse<String>> big = chat(g, "sk-b", 890);
                ReloadWhileWaitingTest.await(() -> ReloadWhileWaitingTest.decisions(g, "granted") > granted);
                // about 60: cannot wait for the big call either, but fits beside the 500
                CompletableFuture<HttpResponse<String>> small = chat(g, "sk-c", 50);
                assertThat(next.get().statusCode()).isEqualTo(200);
                assertThat(small.get().statusCode()).isEqualTo(200);
                // the big call's own fate depends on how the seconds fall; only the small one's is the point here
                assertThat(big.get().statusCode()).isIn(200, 429);
            }
        }
    }

    private static CompletableFuture<HttpResponse<String>> chat(Gateway g, String key, int maxTokens) {
        return ReloadWhileWaitingTest.chat(g, key, "usage-model", ",\"max_tokens\":" + maxTokens);
    }

    private static CompletableFuture<?> call(HttpClient http, Gateway g, String key, List<String> order) {
        return http.sendAsync(HttpRequest.newBuilder(URI.create(g.baseUrl() + "/completions"))
                .timeout(Duration.ofSeconds(30)).header("authorization", "Bearer " + key)
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"hi\",\"max_tokens\":2}")).build(),
                HttpResponse.BodyHandlers.ofString()).thenAccept(r -> order.add(key + ":" + r.statusCode()));
    }
}

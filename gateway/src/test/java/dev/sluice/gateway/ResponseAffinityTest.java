package dev.sluice.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.testkit.redis.RedisEndpoint;
import dev.sluice.testkit.redis.RedisExtension;
import dev.sluice.testkit.simulator.ProviderSimulator;
import dev.sluice.testkit.simulator.SimulatorLimits;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Stored responses of the Responses API are kept by the provider in the project of the key that made them; the
 * simulator answers 404 to any other key, as another project would. The gateway's pool has two such keys.
 */
class ResponseAffinityTest {

    @RegisterExtension
    static final RedisExtension REDIS = new RedisExtension();

    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();

    private static String yaml(ProviderSimulator sim, String backend, String affinity) {
        return """
                server: {port: 0, reloadInterval: 0}
                backend: %s
                upstream: {responseAffinity: %s}
                providers:
                  sim:
                    baseUrl: %s
                    keys: [{id: one, value: sk-project-one}, {id: two, value: sk-project-two}]
                    limits: {requestsPerMinute: 10000, tokensPerMinute: 10000000}
                models:
                  gpt-4o-mini: {provider: sim}
                tenants:
                  t: {keys: [{value: sk-t}]}
                  u: {keys: [{value: sk-u}]}
                  small: {keys: [{value: sk-small}], limits: {tokensPerDay: 400}}
                """.formatted(backend, affinity, sim.baseUrl());
    }

    /** A gateway with responseIsolation on its own namespace of {@code redis}, its store timeout {@code timeout}. */
    private static GatewayConfig isolatedOnRedis(ProviderSimulator sim, RedisEndpoint redis, String timeout) {
        return GatewayConfigParser.create().parse(yaml(sim, "{type: redis, namespace: gw-isolated-%d, timeout: %s, "
                .formatted(System.nanoTime(), timeout) + "redis: {address: \"" + redis.uri() + "\"}}",
                "1h, responseIsolation: true"));
    }

    private HttpResponse<String> create(Gateway g, @Nullable String previous, boolean stream) throws Exception {
        String body = "{\"model\":\"gpt-4o-mini\",\"input\":\"Go on\",\"max_output_tokens\":20"
                + (previous == null ? "" : ",\"previous_response_id\":\"" + previous + "\"")
                + (stream ? ",\"stream\":true" : "") + "}";
        return post(g, "sk-t", body);
    }

    private HttpResponse<String> read(Gateway g, String id) throws Exception {
        return read(g, "sk-t", id);
    }

    private HttpResponse<String> read(Gateway g, String key, String id) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(g.baseUrl() + "/responses/" + id))
                .timeout(Duration.ofSeconds(20)).header("authorization", "Bearer " + key).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The id of a whole answer, or of the response a stream's first event announces. */
    private static String id(HttpResponse<String> r) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        String body = r.body();
        if (body.startsWith("event:")) {
            String data = body.lines().filter(l -> l.startsWith("data: ")).findFirst().orElseThrow();
            return JSON.readTree(data.substring(6)).path("response").path("id").asText();
        }
        JsonNode j = JSON.readTree(body);
        return j.path("id").asText();
    }

    @Test
    @DisplayName("A call chaining to a stored response (previous_response_id) and a read of one (/v1/responses/{id}) "
            + "go out with the pool key that made it, whatever the round robin would pick; a stream's response is "
            + "remembered from its first event")
    void chainedCallsKeepTheirKey() throws Exception {
        try (ProviderSimulator sim = ProviderSimulator.builder().start();
                Gateway g = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, "{type: memory}", "1h")))) {
            String last = id(create(g, null, false));
            for (int i = 0; i < 6; i++) {
                last = id(create(g, last, i % 2 == 1));
            }
            for (int i = 0; i < 4; i++) {
                HttpResponse<String> r = read(g, last);
                assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                assertThat(JSON.readTree(r.body()).path("id").asText()).isEqualTo(last);
            }
            // calls that chain to nothing still go round the pool
            List<String> firsts = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                firsts.add(id(create(g, null, false)));
            }
            for (String first : firsts) {
                assertThat(create(g, first, false).statusCode()).isEqualTo(200);
            }
            assertThat(sim.stats().otherErrors()).as("404s from the wrong project").isZero();
        }
    }

    @Test
    @DisplayName("A call chaining to a stored response reserves the tokens that response used, as the provider "
            + "counts its context as input: with them a call that fits a tenant's 400 tokens a day on its own is too "
            + "large; remembered from a whole answer and from a stream's last event")
    void chainedCallsReserveTheirContext() throws Exception {
        try (ProviderSimulator sim = ProviderSimulator.builder().start();
                Gateway g = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, "{type: memory}", "1h")))) {
            for (boolean stream : new boolean[] {false, true}) {
                String first = "{\"model\":\"gpt-4o-mini\",\"input\":\"" + "word ".repeat(100)
                        + "\",\"max_output_tokens\":20" + (stream ? ",\"stream\":true" : "") + "}";
                HttpResponse<String> r = post(g, "sk-small", first);
                String id = id(r);
                String last = r.body().lines().filter(l -> l.startsWith("data: ")).reduce((a, b) -> b)
                        .map(l -> l.substring(6)).orElse(r.body());
                JsonNode usage = stream ? JSON.readTree(last).path("response").path("usage")
                        : JSON.readTree(r.body()).path("usage");
                long used = usage.path("total_tokens").asLong();
                assertThat(used).isGreaterThan(100);
                String next = "{\"model\":\"gpt-4o-mini\",\"input\":\"Go on\",\"max_output_tokens\":300,"
                        + "\"previous_response_id\":\"" + id + "\"}";
                long own = dev.sluice.governor.TokenEstimator.responsesInputTokens("o200k_base", JSON.readTree(next),
                        0) + 300;
                assertThat(own).isLessThan(400);
                HttpResponse<String> chained = post(g, "sk-small", next);
                assertThat(chained.statusCode()).as(chained.body()).isEqualTo(400);
                assertThat(chained.body()).contains("request_too_large").contains("needs up to " + (own + used) + " ");
                assertThat(JSON.readTree(chained.body()).path("error").path("param").asText())
                        .isEqualTo("max_output_tokens");
            }
        }
    }

    private HttpResponse<String> post(Gateway g, String key, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(g.baseUrl() + "/responses"))
                .timeout(Duration.ofSeconds(20)).header("authorization", "Bearer " + key)
                .header("content-type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    @DisplayName("With responseAffinity 0 nothing is remembered: the round robin sends the chained call to the "
            + "other key, whose project does not hold the response (the failure the affinity prevents)")
    void withoutAffinity() throws Exception {
        try (ProviderSimulator sim = ProviderSimulator.builder().start();
                Gateway g = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, "{type: memory}", "0")))) {
            String first = id(create(g, null, false));
            HttpResponse<String> chained = create(g, first, false);
            assertThat(chained.statusCode()).isEqualTo(404);
            assertThat(chained.body()).contains("previous_response_not_found");
            assertThat(sim.stats().otherErrors()).as("no other key tried").isEqualTo(1);
        }
    }

    @Test
    @DisplayName("A response no record names the maker of (made through another gateway, or its record expired) is "
            + "found by trying the pool's other keys in turn on the provider's 404, once: the key that answers is "
            + "remembered, later calls about it go straight there; each retry counted in "
            + "sluice.gateway.affinity.probes")
    void probesForAResponseNotRemembered() throws Exception {
        try (ProviderSimulator sim = ProviderSimulator.builder().start();
                Gateway maker = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, "{type: memory}", "1h")));
                Gateway other = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, "{type: memory}", "1h")))) {
            // one response made with each key of the pool, through a gateway whose records the other cannot see
            String byOne = id(create(maker, null, false));
            String byTwo = id(create(maker, null, false));
            // the other gateway's round robin starts at the first key: the second key's response is probed for
            for (String id : List.of(byTwo, byOne)) {
                HttpResponse<String> r = read(other, id);
                assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                assertThat(JSON.readTree(r.body()).path("id").asText()).isEqualTo(id);
            }
            long wrong = sim.stats().otherErrors();
            assertThat(wrong).as("404s from the wrong project").isBetween(1L, 2L);
            assertThat(probes(other)).isEqualTo(wrong);
            // the same call twice in a row: a round robin would send one of the two to the wrong key
            for (String id : List.of(byOne, byTwo)) {
                for (int i = 0; i < 4; i++) {
                    assertThat(read(other, id).statusCode()).isEqualTo(200);
                }
                for (int i = 0; i < 4; i++) {
                    assertThat(create(other, id, i % 2 == 1).statusCode()).isEqualTo(200);
                }
            }
            assertThat(sim.stats().otherErrors()).as("no 404 once found").isEqualTo(wrong);

            // a chained call probes as a read does
            for (String made : List.of(id(create(maker, null, false)), id(create(maker, null, false)))) {
                HttpResponse<String> chained = create(other, made, false);
                assertThat(chained.statusCode()).as(chained.body()).isEqualTo(200);
            }
            assertThat(probes(other)).isEqualTo(sim.stats().otherErrors());
        }
    }

    /** A provider whose second key takes one request per 4 s. */
    private static ProviderSimulator slowSecondKey() {
        return ProviderSimulator.builder()
                .keyLimits("sk-project-two", SimulatorLimits.perMinute(1, 1_000_000).withWindow(Duration.ofSeconds(4)))
                .start();
    }

    @Test
    @DisplayName("A probe that the provider answers 429 on the next key waits out that key's cooldown and tries it "
            + "again: the client's chained call gets its answer")
    void probeMeetsA429() throws Exception {
        try (ProviderSimulator sim = slowSecondKey();
                Gateway maker = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, "{type: memory}", "1h")));
                Gateway other = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, "{type: memory}", "1h")))) {
            id(create(maker, null, false)); // the first key
            String byTwo = id(create(maker, null, false)); // the second key, whose window is now full for 4 s
            // a call chaining to it (reads are not rate limited by the provider): the first key answers 404, the
            // second 429, then the response
            HttpResponse<String> r = create(other, byTwo, false);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(sim.stats().otherErrors()).as("the first key's 404").isEqualTo(1);
            assertThat(sim.stats().rejected429()).as("the second key's 429").isEqualTo(1);
            assertThat(probes(other)).isEqualTo(1);
        }
    }

    @Test
    @DisplayName("A client that leaves while its probe waits out a 429's cooldown is not sent again: nothing more "
            + "goes upstream for it")
    void clientLeavesDuringAProbe() throws Exception {
        try (ProviderSimulator sim = slowSecondKey();
                Gateway maker = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, "{type: memory}", "1h")));
                Gateway other = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, "{type: memory}", "1h")))) {
            id(create(maker, null, false));
            String byTwo = id(create(maker, null, false));
            long before = sim.stats().requests();
            HttpRequest impatient = HttpRequest.newBuilder(URI.create(other.baseUrl() + "/responses"))
                    .timeout(Duration.ofMillis(1500)).header("authorization", "Bearer sk-t")
                    .header("content-type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"gpt-4o-mini\",\"input\":\"Go on\","
                            + "\"max_output_tokens\":20,\"previous_response_id\":\"" + byTwo + "\"}")).build();
            assertThatThrownBy(() -> http.send(impatient, HttpResponse.BodyHandlers.ofString()))
                    .isInstanceOf(java.net.http.HttpTimeoutException.class);
            assertThat(sim.stats().rejected429()).as("the probe met the second key's 429").isEqualTo(1);
            long sent = sim.stats().requests();
            assertThat(sent - before).as("the 404 and the 429").isEqualTo(2);
            Thread.sleep(5000); // past the second key's cooldown, when the probe would have gone out again
            assertThat(sim.stats().requests()).as("nothing sent for the client that left").isEqualTo(sent);
        }
    }

    @Test
    @DisplayName("A response no key of the pool holds is tried on each key once, and the client gets the provider's "
            + "404: previous_response_not_found for a chained call")
    void unknownResponseTriesEachKeyOnce() throws Exception {
        try (ProviderSimulator sim = ProviderSimulator.builder().start();
                Gateway g = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, "{type: memory}", "1h")))) {
            HttpResponse<String> r = read(g, "resp_nowhere");
            assertThat(r.statusCode()).isEqualTo(404);
            assertThat(r.body()).contains("resp_nowhere");
            assertThat(sim.stats().otherErrors()).isEqualTo(2);
            HttpResponse<String> chained = create(g, "resp_nowhere", false);
            assertThat(chained.statusCode()).isEqualTo(404);
            assertThat(JSON.readTree(chained.body()).path("error").path("code").asText())
                    .isEqualTo("previous_response_not_found");
            assertThat(sim.stats().otherErrors()).isEqualTo(4);
            assertThat(probes(g)).isEqualTo(2);
            // nothing was remembered: the same read tries both keys again
            assertThat(read(g, "resp_nowhere").statusCode()).isEqualTo(404);
            assertThat(sim.stats().otherErrors()).isEqualTo(6);
        }
    }

    @Test
    @DisplayName("By default a tenant reaches another tenant's stored response by its id (routing, not access "
            + "control); with responseIsolation it reaches only its own: a read of another's is a 404 and a call "
            + "chaining to one a 404 previous_response_not_found, from the gateway, without an upstream call; "
            + "store:false responses are not remembered, so not reachable either")
    void responseIsolation() throws Exception {
        try (ProviderSimulator sim = ProviderSimulator.builder().start();
                Gateway shared = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, "{type: memory}",
                        "1h")));
                Gateway isolated = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, "{type: memory}",
                        "1h, responseIsolation: true")))) {
            String made = id(create(shared, null, false));
            assertThat(read(shared, "sk-u", made).statusCode()).isEqualTo(200);

            String own = id(create(isolated, null, false));
            String streamed = id(create(isolated, null, true));
            String unstored = id(post(isolated, "sk-t", "{\"model\":\"gpt-4o-mini\",\"input\":\"Go on\","
                    + "\"store\":false}"));
            long upstream = upstreamCalls(isolated);
            for (String id : List.of(own, streamed, made)) {
                HttpResponse<String> r = read(isolated, "sk-u", id);
                assertThat(r.statusCode()).as(id).isEqualTo(404);
                assertThat(JSON.readTree(r.body()).path("error").path("code").asText()).isEqualTo("not_found");
                HttpResponse<String> c = post(isolated, "sk-u", "{\"model\":\"gpt-4o-mini\",\"input\":\"Go on\","
                        + "\"previous_response_id\":\"" + id + "\"}");
                assertThat(c.statusCode()).as(id).isEqualTo(404);
                assertThat(JSON.readTree(c.body()).path("error").path("code").asText())
                        .isEqualTo("previous_response_not_found");
                assertThat(JSON.readTree(c.body()).path("error").path("param").asText())
                        .isEqualTo("previous_response_id");
            }
            assertThat(read(isolated, "sk-t", unstored).statusCode()).isEqualTo(404);
            // the other calls about a stored response: its input items, deleting it, counting a chained input
            assertThat(send(isolated, "sk-u", "GET", "/responses/" + own + "/input_items", null).statusCode())
                    .isEqualTo(404);
            assertThat(send(isolated, "sk-u", "DELETE", "/responses/" + own, null).statusCode()).isEqualTo(404);
            HttpResponse<String> count = send(isolated, "sk-u", "POST", "/responses/input_tokens",
                    "{\"model\":\"gpt-4o-mini\",\"previous_response_id\":\"" + own + "\"}");
            assertThat(count.statusCode()).isEqualTo(404);
            assertThat(count.body()).contains("previous_response_not_found");
            // a body the gateway cannot read might name one to a provider that can
            HttpResponse<String> unreadable = send(isolated, "sk-u", "POST", "/responses/input_tokens",
                    "{\"model\":\"gpt-4o-mini\",\"previous_response_id\":\"" + own + "\"} trailing");
            assertThat(unreadable.statusCode()).isEqualTo(400);
            // paths a server or proxy might normalise to another tenant's response
            for (String path : List.of("/responses/" + own + "/../" + own, "/responses//" + own,
                    "//responses/" + own, "/responses/%2e%2e/responses/" + own, "/responses/")) {
                HttpResponse<String> odd = send(isolated, "sk-u", "GET", path, null);
                assertThat(odd.statusCode()).as(path).isEqualTo(400);
                assertThat(odd.body()).as(path).contains("invalid_path");
            }
            assertThat(upstreamCalls(isolated)).as("nothing went upstream").isEqualTo(upstream);
            // the tenant that made them reaches its own
            for (String id : List.of(own, streamed)) {
                assertThat(read(isolated, "sk-t", id).statusCode()).as(id).isEqualTo(200);
                assertThat(create(isolated, id, false).statusCode()).as(id).isEqualTo(200);
            }
            assertThat(upstreamCalls(isolated)).isEqualTo(upstream + 4);
        }
    }

    @Test
    @DisplayName("With responseIsolation, a store that does not answer within backend.timeout makes a call about a "
            + "stored response a 503 backend_unavailable (closed), without an upstream call; once the store answers, "
            + "the tenant reaches its response again")
    void isolationFailsClosed(RedisEndpoint redis) throws Exception {
        assumeTrue(redis.canKill(), "needs a private redis-server to stall");
        try (ProviderSimulator sim = ProviderSimulator.builder().start();
                Gateway g = Gateway.start(isolatedOnRedis(sim, redis, "300ms"))) {
            String id = id(create(g, null, false));
            long upstream = upstreamCalls(g);
            long stalled = System.nanoTime();
            redis.stall(Duration.ofMillis(2000));
            HttpResponse<String> r = read(g, "sk-t", id);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
            assertThat(JSON.readTree(r.body()).path("error").path("code").asText()).isEqualTo("backend_unavailable");
            assertThat(upstreamCalls(g)).isEqualTo(upstream);
            TimeUnit.NANOSECONDS.sleep(Math.max(0, stalled + TimeUnit.MILLISECONDS.toNanos(2500) - System.nanoTime()));
            assertThat(read(g, "sk-t", id).statusCode()).isEqualTo(200);
        }
    }

    @Test
    @DisplayName("With responseIsolation, a stream's events from the one that announces its response's id on wait "
            + "for the response's record: a read of that id sent as soon as it is seen finds it, even while the "
            + "store is slow to write")
    void streamedResponseReachableOnceAnnounced(RedisEndpoint redis) throws Exception {
        assumeTrue(redis.canKill(), "needs a private redis-server to stall");
        try (ProviderSimulator sim = ProviderSimulator.builder().start();
                Gateway g = Gateway.start(isolatedOnRedis(sim, redis, "5s"))) {
            long admitted = sim.stats().admitted();
            sim.setLatency(Duration.ofMillis(2000)); // room for redis-cli to start on a busy machine
            HttpRequest create = HttpRequest.newBuilder(URI.create(g.baseUrl() + "/responses"))
                    .timeout(Duration.ofSeconds(20)).header("authorization", "Bearer sk-t")
                    .header("content-type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"gpt-4o-mini\",\"input\":\"Go on\","
                            + "\"max_output_tokens\":20,\"stream\":true}")).build();
            CompletableFuture<HttpResponse<Stream<String>>> streaming =
                    http.sendAsync(create, HttpResponse.BodyHandlers.ofLines());
            // admitted (the gateway's limiter writes are done); the simulator answers two seconds later
            for (int i = 0; i < 2000 && sim.stats().admitted() == admitted; i++) {
                Thread.sleep(5);
            }
            assertThat(sim.stats().admitted()).isEqualTo(admitted + 1);
            redis.stallWrites(Duration.ofMillis(3500)); // the record's write waits; lookups are answered
            HttpResponse<Stream<String>> r = streaming.get(20, TimeUnit.SECONDS);
            assertThat(r.statusCode()).isEqualTo(200);
            try (Stream<String> lines = r.body()) {
                String first = lines.filter(l -> l.startsWith("data: ")).findFirst().orElseThrow();
                String announced = JSON.readTree(first.substring(6)).path("response").path("id").asText();
                HttpResponse<String> read = read(g, "sk-t", announced);
                assertThat(read.statusCode()).as(read.body()).isEqualTo(200);
            }
        }
    }

    @Test
    @DisplayName("With responseIsolation, a record a tenant got by probing for another's response (before isolation "
            + "was on) does not make that response its own")
    void probedRecordsAreNotOwnership(RedisEndpoint redis) throws Exception {
        try (ProviderSimulator sim = ProviderSimulator.builder().start()) {
            String backend = "{type: redis, namespace: gw-probed-%d, timeout: 3s, redis: {address: \"%s\"}}"
                    .formatted(System.nanoTime(), redis.uri());
            try (Gateway open = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, backend, "1h")));
                    Gateway isolated = Gateway.start(GatewayConfigParser.create().parse(yaml(sim, backend,
                            "1h, responseIsolation: true")))) {
                String made = id(create(open, null, false));
                for (int i = 0; i < 2; i++) { // twice: one of the two reads probes, whatever the round robin
                    assertThat(read(open, "sk-u", made).statusCode()).isEqualTo(200);
                }
                assertThat(read(isolated, "sk-t", made).statusCode()).as("the maker's own").isEqualTo(200);
                HttpResponse<String> r = read(isolated, "sk-u", made);
                assertThat(r.statusCode()).as(r.body()).isEqualTo(404);
            }
        }
    }

    private HttpResponse<String> send(Gateway g, String key, String method, String path, @Nullable String body)
            throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(g.baseUrl() + path)).timeout(Duration.ofSeconds(20))
                .header("authorization", "Bearer " + key).header("content-type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** {@code sluice.gateway.affinity.probes}, summed over providers, from the gateway's {@code /metrics}. */
    private long probes(Gateway g) throws Exception {
        return metric(g, "sluice_gateway_affinity_probes_total{");
    }

    /** {@code sluice.gateway.upstream.requests}, summed over providers and statuses. */
    private long upstreamCalls(Gateway g) throws Exception {
        return metric(g, "sluice_gateway_upstream_requests_total{");
    }

    private long metric(Gateway g, String prefix) throws Exception {
        String text = http.send(HttpRequest.newBuilder(URI.create(g.baseUrl().replace("/v1", "") + "/metrics"))
                .GET().build(), HttpResponse.BodyHandlers.ofString()).body();
        return (long) text.lines().filter(l -> l.startsWith(prefix))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    @Test
    @DisplayName("Two gateways on one Redis share what they remember: responses made through one are chained to "
            + "and read through the other with the key that made them")
    void sharedThroughRedis(RedisEndpoint redis) throws Exception {
        try (ProviderSimulator sim = ProviderSimulator.builder().start()) {
            GatewayConfig config = GatewayConfigParser.create().parse(yaml(sim,
                    "{type: redis, namespace: gw-affinity-%d, timeout: 3s, redis: {address: \"%s\"}}"
                            .formatted(System.nanoTime(), redis.uri()), "1h"));
            try (Gateway one = Gateway.start(config); Gateway two = Gateway.start(config)) {
                // two responses through the first gateway: one made with each key of the pool
                String byOne = id(create(one, null, false));
                String byTwo = id(create(one, null, true));
                // the second gateway's round robins start at the first key: the second key's response first
                for (String id : List.of(byTwo, byOne)) {
                    assertThat(read(two, id).statusCode()).isEqualTo(200);
                    assertThat(create(two, id, false).statusCode()).isEqualTo(200);
                }
                assertThat(sim.stats().otherErrors()).as("404s from the wrong project").isZero();
            }
        }
    }
}

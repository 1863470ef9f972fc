package dev.sluice.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.Gauge;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientConnection;
import io.vertx.core.http.HttpConnectOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

/**
 * The gateway serves on every event loop it is given: client connections are spread over them, and each loop's own
 * upstream client carries its calls. (Servers created from one plain thread all shared that thread's context, so one
 * loop did all the work while the others idled.)
 */
class EventLoopsTest {

    private static final int LOOPS = 3;
    private static final int CONNECTIONS = 2 * LOOPS;

    private StubUpstream stub;
    private Gateway gateway;
    private Vertx vertx;

    @BeforeEach
    void start() throws Exception {
        stub = new StubUpstream();
        gateway = Gateway.start(GatewayConfigParser.create().parse("""
                server: {port: 0, reloadInterval: 0, eventLoops: %d}
                providers:
                  stub:
                    baseUrl: %s
                    keys: [{value: sk-stub}]
                    limits: {requestsPerMinute: 10000}
                models:
                  ok-model: {provider: stub}
                tenants:
                  team: {keys: [{value: sk-team}]}
                """.formatted(LOOPS, stub.baseUrl())));
        vertx = Vertx.vertx();
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        gateway.close();
        stub.close();
    }

    @RepeatedTest(10) // placing verticles on loops raced once (6 in 25 runs failed); each run takes ~0.1 s
    @DisplayName("Client connections are spread over every event loop, one server each, and a call succeeds on each")
    void connectionsOnEveryLoop() throws Exception {
        HttpClientAgent client = vertx.createHttpClient();
        List<HttpClientConnection> open = new ArrayList<>();
        for (int i = 0; i < CONNECTIONS; i++) {
            open.add(await(client.connect(new HttpConnectOptions().setHost("127.0.0.1").setPort(gateway.port()))));
        }
        for (HttpClientConnection c : open) {
            RequestOptions o = new RequestOptions().setMethod(HttpMethod.POST).setURI("/v1/chat/completions")
                    .putHeader("authorization", "Bearer sk-team").putHeader("content-type", "application/json");
            // the body is read in the chain, on the connection's loop, before any of it can arrive unread
            String answer = await(c.request(o).compose(req -> req.send(Buffer.buffer(
                    "{\"model\":\"ok-model\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}")))
                    .compose(resp -> resp.body().map(b -> resp.statusCode() + " " + b)));
            assertThat(answer).startsWith("200 ").contains("chat.completion");
        }
        assertThat(stub.calls("ok-model", "/v1/chat/completions")).hasSize(CONNECTIONS);

        Map<String, Double> perLoop = connectionsPerLoop();
        assertThat(perLoop).as("one gauge per event-loop thread").hasSize(LOOPS);
        assertThat(perLoop.values()).as("connections per loop").allSatisfy(n -> assertThat(n).isGreaterThan(0));
        assertThat(total(perLoop)).isEqualTo(CONNECTIONS);

        for (HttpClientConnection c : open) {
            await(c.close());
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (total(connectionsPerLoop()) > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10); // the server sees each close asynchronously, on its own loop
        }
        assertThat(total(connectionsPerLoop())).as("connections after closing them all").isZero();
    }

    @Test
    @DisplayName("eventLoops defaults to the available processors and refuses a negative count, naming the field")
    void eventLoopsSetting() {
        GatewayConfig d = GatewayConfigParser.create().parse("""
                providers: {p: {baseUrl: "http://127.0.0.1:1/v1", keys: [{value: k}], limits: {requestsPerMinute: 60}}}
                models: {m: {provider: p}}
                """);
        assertThat(d.server().eventLoops()).isZero();
        assertThat(d.server().loops()).isEqualTo(Runtime.getRuntime().availableProcessors());
        assertThatThrownBy(() -> GatewayConfigParser.create().parse("""
                server: {eventLoops: -1}
                providers: {p: {baseUrl: "http://127.0.0.1:1/v1", keys: [{value: k}], limits: {requestsPerMinute: 60}}}
                models: {m: {provider: p}}
                """)).isInstanceOf(GatewayConfigException.class).hasMessageContaining("server.eventLoops");
    }

    private Map<String, Double> connectionsPerLoop() {
        Map<String, Double> m = new HashMap<>();
        for (Gauge g : gateway.registry().find(GatewayMetricNames.CONNECTIONS).gauges()) {
            m.put(g.getId().getTag("loop"), g.value());
        }
        return m;
    }

    private static double total(Map<String, Double> perLoop) {
        return perLoop.values().stream().mapToDouble(Double::doubleValue).sum();
    }

    private static <T> T await(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}

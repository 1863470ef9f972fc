package dev.sluice.testkit.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(60)
class RedisServerTest {

    @BeforeAll
    static void needsRedisServer() {
        assumeTrue(RedisServer.available(), "redis-server and redis-cli are not on the PATH"
                + " (apt-get install -y redis-server)");
    }

    @Test
    void startsAPrivateServerOnALoopbackPortThatStoresValues() {
        try (RedisServer server = RedisServer.start()) {
            assertThat(server.port()).isPositive().isNotEqualTo(6379);
            assertThat(server.host()).isEqualTo("127.0.0.1");
            assertThat(server.uri()).isEqualTo("redis://127.0.0.1:" + server.port());
            assertThat(server.running()).isTrue();

            assertThat(Cli.at(server.port(), "set", "k", "v").text()).isEqualTo("OK");
            assertThat(Cli.at(server.port(), "get", "k").text()).isEqualTo("v");
            assertThat(Cli.at(server.port(), "config", "get", "save").output()).doesNotContain("3600");
            assertThat(Cli.at(server.port(), "config", "get", "appendonly").output()).contains("no");
        }
    }

    @Test
    void killMakesPingFail() {
        try (RedisServer server = RedisServer.start()) {
            assertThat(Cli.at(server.port(), "ping").text()).isEqualTo("PONG");

            server.kill();

            assertThat(server.running()).isFalse();
            Cli.Answer ping = Cli.at(server.port(), "ping");
            assertThat(ping.exitCode()).isNotZero();
            assertThat(ping.output()).doesNotContain("PONG").contains("Could not connect");
        }
    }

    @Test
    void restartAnswersOnTheSamePortWithNothingKept() {
        try (RedisServer server = RedisServer.start()) {
            int port = server.port();
            assertThat(Cli.at(port, "set", "k", "v").text()).isEqualTo("OK");
            server.kill();

            server.restart();

            assertThat(server.port()).isEqualTo(port);
            assertThat(server.running()).isTrue();
            assertThat(Cli.at(port, "ping").text()).isEqualTo("PONG");
            assertThat(Cli.at(port, "exists", "k").text()).isEqualTo("0");
            assertThat(Cli.at(port, "dbsize").text()).isEqualTo("0");
        }
    }

    @Test
    void restartOfARunningServerKillsItFirst() {
        try (RedisServer server = RedisServer.start()) {
            String before = processId(server.port());
            assertThat(Cli.at(server.port(), "set", "k", "v").text()).isEqualTo("OK");

            server.restart();

            assertThat(processId(server.port())).isNotEqualTo(before);
            assertThat(Cli.at(server.port(), "exists", "k").text()).isEqualTo("0");
        }
    }

    @Test
    void twoServersGetDifferentPortsNeitherTheMachinesRedis() {
        try (RedisServer a = RedisServer.start(); RedisServer b = RedisServer.start()) {
            assertThat(a.port()).isNotEqualTo(b.port());
            assertThat(List.of(a.port(), b.port())).doesNotContain(6379);
            assertThat(processId(a.port())).isNotEqualTo(processId(b.port()));

            assertThat(Cli.at(a.port(), "set", "only-in-a", "1").text()).isEqualTo("OK");
            assertThat(Cli.at(b.port(), "exists", "only-in-a").text()).isEqualTo("0");
        }
    }

    @Test
    void closeStopsTheServerAndDeletesItsDirectory() {
        RedisServer server = RedisServer.start();
        Path dir = server.dir();
        assertThat(dir).isDirectory();
        assertThat(dir.resolve("redis.log")).isRegularFile();

        server.close();
        server.close();

        assertThat(server.running()).isFalse();
        assertThat(Files.exists(dir)).isFalse();
        assertThat(Cli.at(server.port(), "ping").output()).doesNotContain("PONG");
        assertThatThrownBy(server::restart).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    @Test
    void aServerThatCannotStartFailsWithItsOwnOutput() {
        assertThatThrownBy(() -> RedisServer.launch(List.of("--no-such-directive", "x"), false))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("exited before answering PING")
                .hasMessageContaining("Bad directive")
                .hasMessageContaining("--no-such-directive");
    }

    private static String processId(int port) {
        return Cli.at(port, "info", "server").output().lines()
                .filter(l -> l.startsWith("process_id:"))
                .findFirst()
                .orElseThrow();
    }
}

package dev.sluice.testkit.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.opentest4j.TestAbortedException;

@Timeout(60)
class RedisExtensionTest {

    @RegisterExtension
    static final RedisExtension REDIS = new RedisExtension();

    @Test
    void resolvesTheClassEndpointAndItIsNotTheMachinesRedis(RedisEndpoint redis) {
        assertThat(redis).isSameAs(REDIS.endpoint());
        assertThat(redis.kind()).isIn(RedisEndpoint.PRIVATE_SERVER, RedisEndpoint.TESTCONTAINERS, RedisEndpoint.EXTERNAL);
        if (!redis.kind().equals(RedisEndpoint.EXTERNAL)) {
            assertThat(redis.port()).isNotEqualTo(6379);
            assertThat(redis.uri()).isEqualTo("redis://" + redis.host() + ":" + redis.port()).doesNotEndWith(":6379");
        }
        assertThat(redis.canKill()).isEqualTo(redis.kind().equals(RedisEndpoint.PRIVATE_SERVER));
    }

    @Test
    void aPrivateServerAnswersAndCanBeKilledAndRestarted(RedisEndpoint redis) {
        assumeTrue(redis.canKill(), "only a private redis-server can be killed; this run got " + redis);
        assertThat(redis.host()).isEqualTo("127.0.0.1");
        assertThat(Cli.at(redis.port(), "ping").text()).isEqualTo("PONG");

        redis.kill();
        assertThat(Cli.at(redis.port(), "ping").output()).doesNotContain("PONG");

        redis.restart();
        assertThat(Cli.at(redis.port(), "ping").text()).isEqualTo("PONG");
    }

    @Nested
    class NestedClasses {
        @Test
        void shareTheOuterClassesRedis(RedisEndpoint redis) {
            assertThat(redis).isSameAs(REDIS.endpoint());
        }
    }

    @Test
    void stopStopsThePrivateServerItStarted() throws Exception {
        assumeTrue(RedisServer.available(), "redis-server is not on the PATH");
        RedisExtension extension = new RedisExtension(name -> null, () -> true, () -> false);
        extension.open();
        RedisEndpoint endpoint = extension.endpoint();
        assertThat(endpoint.kind()).isEqualTo(RedisEndpoint.PRIVATE_SERVER);
        assertThat(Cli.at(endpoint.port(), "ping").text()).isEqualTo("PONG");

        extension.stop();

        assertThat(Cli.at(endpoint.port(), "ping").output()).doesNotContain("PONG");
        assertThatThrownBy(extension::endpoint).isInstanceOf(IllegalStateException.class);
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "redis://127.0.0.1:6379", "redis://127.0.0.1", "redis://localhost:6379/0", "redis://localhost",
        "redis://[::1]:6379", "rediss://127.0.0.2:6379", "redis://0.0.0.0:6379", "redis://:secret@127.0.0.1:6379"})
    void refusesAnExternalUrlThatIsTheMachinesRedis(String url) {
        RedisExtension extension = new RedisExtension(Map.of(RedisExtension.URL_VARIABLE, url)::get,
                () -> true, () -> true);

        assertThatThrownBy(extension::open)
                .isInstanceOf(ExtensionConfigurationException.class)
                .hasMessageContaining("SLUICE_REDIS_URL")
                .hasMessageContaining("port 6379 on this machine")
                .hasMessageNotContaining("secret");
        assertThatThrownBy(extension::endpoint).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void anExternalUrlComesFirstAndIsUsedAsGiven() {
        AtomicInteger asked = new AtomicInteger();
        String url = "redis://:pw@127.0.0.1:6380/2";
        RedisExtension extension = new RedisExtension(Map.of(RedisExtension.URL_VARIABLE, url)::get,
                () -> asked.incrementAndGet() > 0, () -> asked.incrementAndGet() > 0);

        extension.open();

        RedisEndpoint endpoint = extension.endpoint();
        assertThat(asked).hasValue(0);
        assertThat(endpoint.kind()).isEqualTo(RedisEndpoint.EXTERNAL);
        assertThat(endpoint.uri()).isEqualTo(url);
        assertThat(endpoint.host()).isEqualTo("127.0.0.1");
        assertThat(endpoint.port()).isEqualTo(6380);
        assertThat(endpoint.toString()).doesNotContain("pw");
        assertThat(endpoint.canKill()).isFalse();
        assertThatThrownBy(endpoint::kill).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(endpoint::restart).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void port6379OnAnotherHostIsAllowed() {
        RedisExtension extension = new RedisExtension(
                Map.of(RedisExtension.URL_VARIABLE, "redis://192.0.2.10:6379")::get, () -> false, () -> false);

        extension.open();

        assertThat(extension.endpoint().port()).isEqualTo(6379);
        assertThat(extension.endpoint().host()).isEqualTo("192.0.2.10");
    }

    @Test
    void aMalformedUrlIsRefused() {
        RedisExtension extension = new RedisExtension(
                Map.of(RedisExtension.URL_VARIABLE, "http://example.org:7000")::get, () -> false, () -> false);

        assertThatThrownBy(extension::open)
                .isInstanceOf(ExtensionConfigurationException.class)
                .hasMessageContaining("redis://host:port");
    }

    @Test
    void withNothingAvailableTheClassIsAbortedWithHowToInstall() {
        RedisExtension extension = new RedisExtension(name -> null, () -> false, () -> false);

        assertThatThrownBy(extension::open)
                .isInstanceOf(TestAbortedException.class)
                .hasMessageContaining("redis-server")
                .hasMessageContaining("apt-get install -y redis-server");
    }
}

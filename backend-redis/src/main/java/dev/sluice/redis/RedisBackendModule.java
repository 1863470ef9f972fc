package dev.sluice.redis;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import dev.sluice.api.spi.LimiterBackend;
import jakarta.inject.Singleton;
import java.util.Objects;
import java.util.function.UnaryOperator;
import org.redisson.api.RedissonClient;

/**
 * Binds {@link LimiterBackend} to a {@link RedisBackend} on the {@link RedissonClient} bound elsewhere (the
 * application owns the client). Combine it with {@code LimiterModule} for a ready {@code RateLimiter}.
 */
public final class RedisBackendModule extends AbstractModule {

    private final UnaryOperator<RedisBackend.Builder> settings;

    /** A backend with the defaults (namespace {@code sluice}, Redis time, fail closed). */
    public RedisBackendModule() {
        this(b -> b);
    }

    /** A backend configured by {@code settings}, for example {@code b -> b.namespace("app").timeout(...)}. */
    public RedisBackendModule(UnaryOperator<RedisBackend.Builder> settings) {
        this.settings = Objects.requireNonNull(settings, "settings");
    }

    @Provides
    @Singleton
    RedisBackend redisBackend(RedissonClient client) {
        return settings.apply(RedisBackend.builder(client)).build();
    }

    @Provides
    @Singleton
    LimiterBackend limiterBackend(RedisBackend backend) {
        return backend;
    }
}

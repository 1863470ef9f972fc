package dev.sluice.hazelcast;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.hazelcast.core.HazelcastInstance;
import dev.sluice.api.spi.LimiterBackend;
import jakarta.inject.Singleton;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * Binds {@link LimiterBackend} to a {@link HazelcastBackend} on the {@link HazelcastInstance} (member or client)
 * bound elsewhere. Combine it with {@code LimiterModule} for a ready {@code RateLimiter}.
 */
public final class HazelcastBackendModule extends AbstractModule {

    private final UnaryOperator<HazelcastBackend.Builder> settings;

    /** A backend with the defaults (map {@code sluice-limiter}, member clock, fail closed). */
    public HazelcastBackendModule() {
        this(b -> b);
    }

    /** A backend configured by {@code settings}, for example {@code b -> b.mapName("app-limits")}. */
    public HazelcastBackendModule(UnaryOperator<HazelcastBackend.Builder> settings) {
        this.settings = Objects.requireNonNull(settings, "settings");
    }

    @Provides
    @Singleton
    HazelcastBackend hazelcastBackend(HazelcastInstance instance) {
        return settings.apply(HazelcastBackend.builder(instance)).build();
    }

    @Provides
    @Singleton
    LimiterBackend limiterBackend(HazelcastBackend backend) {
        return backend;
    }
}

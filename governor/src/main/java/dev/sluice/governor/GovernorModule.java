package dev.sluice.governor;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.multibindings.OptionalBinder;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.api.spi.LimiterBackend;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.inject.Singleton;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Binds a {@link Governor} on whatever {@link LimiterBackend} another module binds (for example
 * {@code RedisBackendModule}); if a {@link CacheStore} is bound, cooldowns are shared through it, and if a
 * {@link MeterRegistry} is bound, the governor's metrics go there. The profiles and key pools come from the
 * configuration given here:
 *
 * <pre>{@code
 * Injector injector = Guice.createInjector(new MemoryBackendModule(), new GovernorModule(b -> b
 *         .profiles(ProviderProfiles.builtIn())
 *         .pool("llama-3.1-8b-instant", ProviderKey.of("groq", System.getenv("GROQ_KEY")))));
 * Governor governor = injector.getInstance(Governor.class);
 * }</pre>
 */
public final class GovernorModule extends AbstractModule {

    private final Consumer<Governor.Builder> configuration;

    /** A module whose governor {@code configuration} sets up (profiles and pools at least). */
    public GovernorModule(Consumer<Governor.Builder> configuration) {
        this.configuration = Objects.requireNonNull(configuration, "configuration");
    }

    @Override
    protected void configure() {
        OptionalBinder.newOptionalBinder(binder(), MeterRegistry.class);
        OptionalBinder.newOptionalBinder(binder(), CacheStore.class);
    }

    @Provides
    @Singleton
    Governor governor(LimiterBackend backend, Optional<CacheStore> cooldowns, Optional<MeterRegistry> registry) {
        Governor.Builder b = Governor.builder(backend);
        cooldowns.ifPresent(b::cooldownStore);
        registry.ifPresent(b::meterRegistry);
        configuration.accept(b);
        return b.build();
    }
}

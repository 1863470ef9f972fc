package dev.sluice.core;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.multibindings.OptionalBinder;
import dev.sluice.api.Policy;
import dev.sluice.api.PolicyResolver;
import dev.sluice.api.RateLimiter;
import dev.sluice.api.spi.LimiterBackend;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.inject.Singleton;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * Binds a {@link RateLimiter} built on whatever {@link LimiterBackend} another module binds (for example
 * {@code MemoryBackendModule}). Give it a policy, or bind a {@link PolicyResolver} yourself. If a
 * {@link MeterRegistry} or a {@link WaitScheduler} is bound, the limiter uses it.
 *
 * <pre>{@code
 * Injector injector = Guice.createInjector(new MemoryBackendModule(), new LimiterModule("openai", policy));
 * RateLimiter limiter = injector.getInstance(RateLimiter.class);
 * }</pre>
 */
public final class LimiterModule extends AbstractModule {

    private final String name;
    private final @Nullable Policy policy;

    /** A limiter named {@code name} applying {@code policy} to every key. */
    public LimiterModule(String name, Policy policy) {
        this.name = name;
        this.policy = policy;
    }

    /** A limiter named {@code name}; a {@link PolicyResolver} must be bound elsewhere. */
    public LimiterModule(String name) {
        this.name = name;
        this.policy = null;
    }

    @Override
    protected void configure() {
        OptionalBinder.newOptionalBinder(binder(), MeterRegistry.class);
        OptionalBinder.newOptionalBinder(binder(), WaitScheduler.class);
        if (policy != null) {
            bind(PolicyResolver.class).toInstance(PolicyResolver.fixed(policy));
        }
    }

    @Provides
    @Singleton
    RateLimiter rateLimiter(LimiterBackend backend, PolicyResolver policies, Optional<MeterRegistry> registry,
            Optional<WaitScheduler> scheduler) {
        SluiceLimiter.Builder b = SluiceLimiter.builder(backend).name(name).policies(policies);
        registry.ifPresent(b::meterRegistry);
        scheduler.ifPresent(b::scheduler);
        return b.build();
    }
}

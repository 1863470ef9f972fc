package dev.sluice.cache;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.multibindings.OptionalBinder;
import dev.sluice.api.cache.CacheStore;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.inject.Singleton;
import java.util.Objects;
import java.util.Optional;
import java.util.function.UnaryOperator;

/**
 * Binds a {@link ResponseCache} on whatever {@link CacheStore} another binding provides (for example a
 * {@code RedisCacheStore} or a {@code MemoryCacheStore}). If a {@link CachePolicy} or {@link CacheKeys} is bound, the
 * cache uses it; if a {@link MeterRegistry} is bound, the cache's {@link CacheMetrics} are bound to it.
 *
 * <pre>{@code
 * Injector injector = Guice.createInjector(
 *         binder -> binder.bind(CacheStore.class).toInstance(RedisCacheStore.builder(redisson).build()),
 *         new CacheModule("llm", b -> b.nearCache(16 << 20, Duration.ofSeconds(10))));
 * ResponseCache cache = injector.getInstance(ResponseCache.class);
 * }</pre>
 */
public final class CacheModule extends AbstractModule {

    private final String name;
    private final UnaryOperator<ResponseCache.Builder> settings;

    /** A cache named {@code name} with the default settings. */
    public CacheModule(String name) {
        this(name, UnaryOperator.identity());
    }

    /** A cache named {@code name}, its builder passed through {@code settings} (near cache, timings...). */
    public CacheModule(String name, UnaryOperator<ResponseCache.Builder> settings) {
        this.name = Objects.requireNonNull(name, "name");
        this.settings = Objects.requireNonNull(settings, "settings");
    }

    @Override
    protected void configure() {
        OptionalBinder.newOptionalBinder(binder(), MeterRegistry.class);
        OptionalBinder.newOptionalBinder(binder(), CachePolicy.class);
        OptionalBinder.newOptionalBinder(binder(), CacheKeys.class);
    }

    @Provides
    @Singleton
    ResponseCache responseCache(CacheStore store, Optional<CachePolicy> policy, Optional<CacheKeys> keys,
            Optional<MeterRegistry> registry) {
        ResponseCache.Builder b = ResponseCache.builder(store).name(name);
        policy.ifPresent(b::policy);
        keys.ifPresent(b::keys);
        ResponseCache cache = settings.apply(b).build();
        registry.ifPresent(new CacheMetrics(cache)::bindTo);
        return cache;
    }
}

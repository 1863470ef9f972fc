package dev.sluice.memory;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.multibindings.OptionalBinder;
import dev.sluice.api.Ticker;
import dev.sluice.api.spi.LimiterBackend;
import jakarta.inject.Singleton;
import java.util.Optional;

/**
 * Binds {@link LimiterBackend} to a {@link MemoryBackend} (on a bound {@link Ticker} if there is one). Combine it with
 * {@code LimiterModule} for a ready {@code RateLimiter}.
 */
public final class MemoryBackendModule extends AbstractModule {

    private final long maxKeys;

    /** A backend holding at most 10,000,000 keys. */
    public MemoryBackendModule() {
        this(10_000_000);
    }

    /** A backend holding at most {@code maxKeys} keys. */
    public MemoryBackendModule(long maxKeys) {
        this.maxKeys = maxKeys;
    }

    @Override
    protected void configure() {
        OptionalBinder.newOptionalBinder(binder(), Ticker.class);
    }

    @Provides
    @Singleton
    MemoryBackend memoryBackend(Optional<Ticker> ticker) {
        return MemoryBackend.builder().ticker(ticker.orElse(Ticker.system())).maxKeys(maxKeys).build();
    }

    @Provides
    @Singleton
    LimiterBackend limiterBackend(MemoryBackend backend) {
        return backend;
    }
}

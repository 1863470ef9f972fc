package dev.sluice.core.queue;

import com.google.inject.AbstractModule;
import com.google.inject.Injector;
import com.google.inject.Key;
import com.google.inject.Scopes;
import com.google.inject.TypeLiteral;
import com.google.inject.multibindings.OptionalBinder;
import com.google.inject.util.Types;
import dev.sluice.api.RateLimiter;
import dev.sluice.api.queue.JobQueue;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.inject.Inject;
import jakarta.inject.Provider;
import java.util.Objects;
import java.util.Optional;

/**
 * Binds a {@code Dispatcher<R>} (a singleton, started when first injected) built on the {@link JobQueue}, the
 * {@link RateLimiter} and the {@code JobHandler<R>} other modules bind; a bound {@link MeterRegistry} gets its
 * metrics. Close the dispatcher on shutdown.
 *
 * <pre>{@code
 * Injector injector = Guice.createInjector(new MemoryBackendModule(), new LimiterModule("openai", policy),
 *         b -> b.bind(JobQueue.class).toInstance(MemoryJobQueue.builder().build()),
 *         b -> b.bind(new TypeLiteral<JobHandler<String>>() { }).toInstance(job -> call(job)),
 *         new DispatcherModule<>("openai", String.class, 4));
 * Dispatcher<String> d = injector.getInstance(Key.get(new TypeLiteral<Dispatcher<String>>() { }));
 * }</pre>
 *
 * @param <R> the handler's result type
 */
public final class DispatcherModule<R> extends AbstractModule {

    private final String name;
    private final Class<R> resultType;
    private final int workers;

    /** A dispatcher named {@code name} with {@code workers} workers, for handlers returning {@code resultType}. */
    public DispatcherModule(String name, Class<R> resultType, int workers) {
        this.name = Objects.requireNonNull(name, "name");
        this.resultType = Objects.requireNonNull(resultType, "resultType");
        this.workers = workers;
    }

    @Override
    @SuppressWarnings("unchecked")
    protected void configure() {
        OptionalBinder.newOptionalBinder(binder(), MeterRegistry.class);
        Key<JobHandler<R>> handler = (Key<JobHandler<R>>) Key.get(Types.newParameterizedType(JobHandler.class,
                resultType));
        TypeLiteral<Dispatcher<R>> dispatcher = (TypeLiteral<Dispatcher<R>>) TypeLiteral.get(
                Types.newParameterizedType(Dispatcher.class, resultType));
        bind(dispatcher).toProvider(new DispatcherProvider<>(name, workers, handler)).in(Scopes.SINGLETON);
    }

    /** Builds the dispatcher from what the injector holds. */
    private static final class DispatcherProvider<R> implements Provider<Dispatcher<R>> {
        private final String name;
        private final int workers;
        private final Key<JobHandler<R>> handler;
        @Inject
        Injector injector;

        DispatcherProvider(String name, int workers, Key<JobHandler<R>> handler) {
            this.name = name;
            this.workers = workers;
            this.handler = handler;
        }

        @Override
        public Dispatcher<R> get() {
            Dispatcher.Builder<R> b = Dispatcher.builder(injector.getInstance(JobQueue.class),
                    injector.getInstance(RateLimiter.class), injector.getInstance(handler))
                    .name(name).workers(workers);
            Optional<MeterRegistry> registry = injector.getInstance(new Key<Optional<MeterRegistry>>() { });
            registry.ifPresent(b::meterRegistry);
            return b.build();
        }
    }
}

package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.inject.AbstractModule;
import com.google.inject.CreationException;
import com.google.inject.Guice;
import com.google.inject.Injector;
import com.google.inject.Key;
import com.google.inject.TypeLiteral;
import com.google.inject.multibindings.OptionalBinder;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.api.PolicyResolver;
import dev.sluice.api.RateLimiter;
import dev.sluice.api.Ticker;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.core.LimiterModule;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.core.SluiceMetricNames;
import dev.sluice.core.WaitScheduler;
import dev.sluice.testkit.ManualScheduler;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link MemoryBackendModule} and {@link LimiterModule} together give a working {@link RateLimiter}. */
class GuiceWiringTest {

    /** 3 requests per hour: on the system clock nothing refills within a test (one unit takes 20 minutes). */
    private static final Policy THREE_PER_HOUR = Policy.of(Limit.perHour("requests", 3));

    private static AbstractModule tickerModule(ManualTicker ticker) {
        return new AbstractModule() {
            @Override
            protected void configure() {
                OptionalBinder.newOptionalBinder(binder(), Ticker.class).setBinding().toInstance(ticker);
            }
        };
    }

    private static AbstractModule registryModule(MeterRegistry registry) {
        return new AbstractModule() {
            @Override
            protected void configure() {
                OptionalBinder.newOptionalBinder(binder(), MeterRegistry.class).setBinding().toInstance(registry);
            }
        };
    }

    @Test
    void givesASingletonLimiterThatLimits() {
        Injector injector = Guice.createInjector(new MemoryBackendModule(), new LimiterModule("openai", THREE_PER_HOUR));
        RateLimiter limiter = injector.getInstance(RateLimiter.class);
        assertThat(injector.getInstance(RateLimiter.class)).isSameAs(limiter);
        assertThat(limiter).isInstanceOf(SluiceLimiter.class);
        assertThat(((SluiceLimiter) limiter).name()).isEqualTo("openai");

        for (int i = 0; i < 3; i++) {
            assertThat(limiter.tryAcquire("tenant-1", Cost.request()).granted()).as("grant %d", i).isTrue();
        }
        Decision denied = limiter.tryAcquire("tenant-1", Cost.request());
        assertThat(denied.granted()).isFalse();
        assertThat(denied.reason()).isEqualTo(Decision.Reason.RATE_LIMITED);
        assertThat(denied.retryAfter()).isPositive();
        assertThat(limiter.tryAcquire("tenant-2", Cost.request()).granted()).as("keys are separate").isTrue();
    }

    @Test
    void backendIsASingletonMemoryBackendHoldingTheLimitersState() {
        Injector injector = Guice.createInjector(new MemoryBackendModule(), new LimiterModule("openai", THREE_PER_HOUR));
        MemoryBackend backend = injector.getInstance(MemoryBackend.class);
        assertThat(injector.getInstance(LimiterBackend.class)).isSameAs(backend);
        assertThat(injector.getInstance(MemoryBackend.class)).isSameAs(backend);

        injector.getInstance(RateLimiter.class).tryAcquire("a", Cost.request());
        injector.getInstance(RateLimiter.class).tryAcquire("b", Cost.request());
        assertThat(backend.liveKeys()).isEqualTo(2);
    }

    @Test
    void separateInjectorsDoNotShareState() {
        RateLimiter a = Guice.createInjector(new MemoryBackendModule(), new LimiterModule("x", THREE_PER_HOUR))
                .getInstance(RateLimiter.class);
        RateLimiter b = Guice.createInjector(new MemoryBackendModule(), new LimiterModule("x", THREE_PER_HOUR))
                .getInstance(RateLimiter.class);
        for (int i = 0; i < 3; i++) {
            a.tryAcquire("k", Cost.request());
        }
        assertThat(a.tryAcquire("k", Cost.request()).granted()).isFalse();
        assertThat(b.tryAcquire("k", Cost.request()).granted()).isTrue();
    }

    @Test
    void aBoundTickerMakesTimeManual() {
        ManualTicker ticker = new ManualTicker();
        Injector injector = Guice.createInjector(new MemoryBackendModule(),
                new LimiterModule("openai", Policy.of(Limit.perMinute("requests", 2))), tickerModule(ticker));
        RateLimiter limiter = injector.getInstance(RateLimiter.class);

        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();
        Decision denied = limiter.tryAcquire("k", Cost.request());
        assertThat(denied.granted()).isFalse();
        // exact on a clock that does not move by itself: one request refills every 30 s
        assertThat(denied.retryAfterMicros()).isEqualTo(30_000_000L);

        ticker.advanceMicros(29_999_999L);
        assertThat(limiter.tryAcquire("k", Cost.request()).retryAfterMicros()).isEqualTo(1);
        ticker.advanceMicros(1);
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isTrue();
        assertThat(limiter.tryAcquire("k", Cost.request()).granted()).isFalse();
    }

    @Test
    @Timeout(10) // were the real scheduler used, the acquire would sleep a real minute
    void aBoundWaitSchedulerIsUsedForWaiting() throws InterruptedException {
        ManualTicker ticker = new ManualTicker();
        ManualScheduler scheduler = new ManualScheduler(ticker);
        Injector injector = Guice.createInjector(new MemoryBackendModule(),
                new LimiterModule("openai", Policy.of(Limit.perMinute("requests", 1))), tickerModule(ticker),
                new AbstractModule() {
                    @Override
                    protected void configure() {
                        OptionalBinder.newOptionalBinder(binder(), WaitScheduler.class).setBinding()
                                .toInstance(scheduler);
                    }
                });
        RateLimiter limiter = injector.getInstance(RateLimiter.class);
        limiter.tryAcquire("k", Cost.request());

        Decision d = limiter.acquire("k", Cost.request(), Duration.ofMinutes(2));
        assertThat(d.granted()).isTrue();
        assertThat(scheduler.sleeps()).containsExactly(60_000_000L);
    }

    @Test
    void aBoundMeterRegistryGetsTheMetrics() {
        ManualTicker ticker = new ManualTicker();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Injector injector = Guice.createInjector(new MemoryBackendModule(),
                new LimiterModule("openai", Policy.of(Limit.perMinute("requests", 2))), tickerModule(ticker),
                registryModule(registry));
        RateLimiter limiter = injector.getInstance(RateLimiter.class);
        limiter.tryAcquire("k", Cost.request());
        limiter.tryAcquire("k", Cost.request());
        limiter.tryAcquire("k", Cost.request());

        assertThat(registry.get(SluiceMetricNames.ACQUISITIONS)
                .tags(SluiceMetricNames.TAG_LIMITER, "openai", SluiceMetricNames.TAG_RESULT, "granted")
                .counter().count()).isEqualTo(2);
        assertThat(registry.get(SluiceMetricNames.ACQUISITIONS)
                .tags(SluiceMetricNames.TAG_LIMITER, "openai", SluiceMetricNames.TAG_RESULT, "rate_limited")
                .counter().count()).isEqualTo(1);
        assertThat(registry.get(SluiceMetricNames.KEYS).tags(SluiceMetricNames.TAG_LIMITER, "openai").gauge().value())
                .isEqualTo(injector.getInstance(MemoryBackend.class).liveKeys())
                .isEqualTo(1);
    }

    @Test
    void withoutARegistryBindingTheLimiterStillWorks() {
        Injector injector = Guice.createInjector(new MemoryBackendModule(), new LimiterModule("openai", THREE_PER_HOUR));
        assertThat(injector.getInstance(Key.get(new TypeLiteral<Optional<MeterRegistry>>() { }))).isEmpty();
        assertThat(injector.getInstance(RateLimiter.class).tryAcquire("k", Cost.request()).granted()).isTrue();
    }

    @Test
    void withoutAPolicyOrResolverInjectorCreationFails() {
        assertThatThrownBy(() -> Guice.createInjector(new MemoryBackendModule(), new LimiterModule("openai")))
                .isInstanceOf(CreationException.class)
                .hasMessageContaining(PolicyResolver.class.getName());
    }

    @Test
    void withoutABackendInjectorCreationFails() {
        assertThatThrownBy(() -> Guice.createInjector(new LimiterModule("openai", THREE_PER_HOUR)))
                .isInstanceOf(CreationException.class)
                .hasMessageContaining(LimiterBackend.class.getName());
    }

    @Test
    void aUserBoundResolverAppliesPerKeyPolicies() {
        ManualTicker ticker = new ManualTicker();
        Policy free = Policy.of(Limit.perMinute("requests", 1));
        Policy premium = Policy.of(Limit.perMinute("requests", 5));
        Injector injector = Guice.createInjector(new MemoryBackendModule(), new LimiterModule("openai"),
                tickerModule(ticker), new AbstractModule() {
                    @Override
                    protected void configure() {
                        bind(PolicyResolver.class).toInstance(key -> key.startsWith("premium-") ? premium : free);
                    }
                });
        RateLimiter limiter = injector.getInstance(RateLimiter.class);

        assertThat(grantsUntilDenied(limiter, "free-1")).isEqualTo(1);
        assertThat(grantsUntilDenied(limiter, "premium-1")).isEqualTo(5);
        assertThat(grantsUntilDenied(limiter, "free-2")).isEqualTo(1);

        Decision d = limiter.tryAcquire("premium-2", Cost.request());
        assertThat(d.policy()).isEqualTo(premium);
        assertThat(d.remaining("requests")).isEqualTo(4);
    }

    @Test
    void aPolicyAndAUserBoundResolverConflict() {
        assertThatThrownBy(() -> Guice.createInjector(new MemoryBackendModule(),
                new LimiterModule("openai", THREE_PER_HOUR), new AbstractModule() {
                    @Override
                    protected void configure() {
                        bind(PolicyResolver.class).toInstance(PolicyResolver.fixed(THREE_PER_HOUR));
                    }
                }))
                .isInstanceOf(CreationException.class)
                .hasMessageContaining(PolicyResolver.class.getName());
    }

    @Test
    void maxKeysOfTheModuleIsEnforced() {
        ManualTicker ticker = new ManualTicker();
        Injector injector = Guice.createInjector(new MemoryBackendModule(1),
                new LimiterModule("openai", Policy.of(Limit.perMinute("requests", 5))), tickerModule(ticker));
        RateLimiter limiter = injector.getInstance(RateLimiter.class);
        assertThat(limiter.tryAcquire("a", Cost.request()).granted()).isTrue();
        Decision second = limiter.tryAcquire("b", Cost.request());
        assertThat(second.granted()).isFalse();
        assertThat(second.reason()).isEqualTo(Decision.Reason.KEY_LIMIT_REACHED);
    }

    private static int grantsUntilDenied(RateLimiter limiter, String key) {
        int n = 0;
        while (limiter.tryAcquire(key, Cost.request()).granted()) {
            n++;
            if (n > 100) {
                throw new AssertionError("never denied");
            }
        }
        return n;
    }
}

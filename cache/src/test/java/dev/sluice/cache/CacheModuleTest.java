package dev.sluice.cache;

import static dev.sluice.cache.Fixtures.answer;
import static dev.sluice.cache.Fixtures.chat;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.inject.Guice;
import com.google.inject.Injector;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.cache.CacheAnswer.Source;
import dev.sluice.memory.MemoryCacheStore;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class CacheModuleTest {

    @Test
    void bindsOneCacheOnTheBoundStoreWithItsMetrics() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Injector injector = Guice.createInjector(
                binder -> {
                    binder.bind(CacheStore.class).toInstance(MemoryCacheStore.builder().build());
                    binder.bind(MeterRegistry.class).toInstance(registry);
                    binder.bind(CachePolicy.class).toInstance(CachePolicy.builder().cacheAll().build());
                },
                new CacheModule("wired", b -> b.nearCache(1 << 20, Duration.ofSeconds(5))));
        ResponseCache cache = injector.getInstance(ResponseCache.class);
        assertThat(injector.getInstance(ResponseCache.class)).isSameAs(cache);
        assertThat(cache.name()).isEqualTo("wired");
        CacheRequest warm = chat("sk-k", "hello", 0.8); // cached: the bound policy caches everything
        cache.call(warm, () -> answer("hi"));
        assertThat(cache.call(warm, () -> answer("other")).source()).isEqualTo(Source.NEAR_HIT);
        assertThat(registry.get(CacheMetricNames.HITS).tag("cache", "wired").tag("level", "near").functionCounter()
                .count()).isEqualTo(1);
    }

    @Test
    void worksWithoutOptionalBindings() {
        Injector injector = Guice.createInjector(
                binder -> binder.bind(CacheStore.class).toInstance(MemoryCacheStore.builder().build()),
                new CacheModule("plain"));
        assertThat(injector.getInstance(ResponseCache.class).name()).isEqualTo("plain");
    }
}

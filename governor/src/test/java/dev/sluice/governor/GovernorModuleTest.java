package dev.sluice.governor;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.inject.AbstractModule;
import com.google.inject.Guice;
import com.google.inject.Injector;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.memory.MemoryBackend;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class GovernorModuleTest {

    @Test
    @DisplayName("Guice wires a governor on the bound backend, recording its metrics under sluice.governor.")
    void wiring() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Injector injector = Guice.createInjector(new AbstractModule() {
            @Override
            protected void configure() {
                bind(LimiterBackend.class).toInstance(MemoryBackend.create());
                bind(MeterRegistry.class).toInstance(registry);
            }
        }, new GovernorModule(b -> b.name("wired").profiles(GovernorTest.PROFILES)
                .pool(GovernorTest.MODEL, ProviderKey.of("sim", "sk-secret-value"))));
        Governor g = injector.getInstance(Governor.class);
        assertThat(injector.getInstance(Governor.class)).isSameAs(g);
        g.callAsync(GovernorTest.chat("hi", 10), a -> CompletableFuture.completedFuture(UpstreamResponse.of(200,
                Map.of(), "{\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":4}}"))).join();
        assertThat(registry.get(GovernorMetricNames.CALLS).tag("result", "succeeded").functionCounter().count())
                .isEqualTo(1);
        assertThat(registry.get(GovernorMetricNames.TOKENS).tag("kind", "actual").functionCounter().count())
                .isEqualTo(12);
        assertThat(registry.get(GovernorMetricNames.WAIT).functionTimer().count()).isEqualTo(1);
        // No meter carries the key, neither as a tag nor in its name.
        List<String> ids = registry.getMeters().stream().map(m -> m.getId().toString()).toList();
        assertThat(ids).noneMatch(id -> id.contains("sk-secret-value"));
        g.close();
    }
}

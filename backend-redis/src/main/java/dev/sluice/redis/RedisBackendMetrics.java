package dev.sluice.redis;

import dev.sluice.core.SluiceMetricNames;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.Objects;

/** Counts the decisions a {@link RedisBackend} took without Redis: {@value SluiceMetricNames#BACKEND_DEGRADED}. */
public final class RedisBackendMetrics implements MeterBinder {

    private final RedisBackend backend;
    private final String namespace;

    /** Metrics of {@code backend}, tagged with its {@code namespace}. */
    public RedisBackendMetrics(RedisBackend backend, String namespace) {
        this.backend = Objects.requireNonNull(backend, "backend");
        this.namespace = Objects.requireNonNull(namespace, "namespace");
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        FunctionCounter.builder(SluiceMetricNames.BACKEND_DEGRADED, backend, RedisBackend::degradedDecisions)
                .description("Decisions taken by the failure policy because Redis did not answer")
                .tag(SluiceMetricNames.TAG_BACKEND, "redis")
                .tag(SluiceMetricNames.TAG_NAMESPACE, namespace)
                .register(registry);
    }
}

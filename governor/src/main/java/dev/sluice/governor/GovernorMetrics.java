package dev.sluice.governor;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import org.jspecify.annotations.Nullable;

/**
 * Micrometer view of a governor's {@link GovernorStats}: function counters and timers that read the governor's own
 * counters, so binding costs nothing per call. Names in {@link GovernorMetricNames}.
 */
public final class GovernorMetrics implements MeterBinder {

    private final Governor governor;

    /** Metrics of {@code governor}. */
    public GovernorMetrics(Governor governor) {
        this.governor = governor;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        String name = governor.name();
        counter(registry, GovernorMetricNames.CALLS, GovernorMetricNames.TAG_RESULT, "succeeded",
                g -> g.stats().succeeded());
        counter(registry, GovernorMetricNames.CALLS, GovernorMetricNames.TAG_RESULT, "failed",
                g -> g.stats().failed());
        counter(registry, GovernorMetricNames.ATTEMPTS, null, null, g -> g.stats().attempts());
        counter(registry, GovernorMetricNames.RETRIES, null, null, g -> g.stats().retries());
        counter(registry, GovernorMetricNames.RATE_LIMITED, GovernorMetricNames.TAG_KIND, "window",
                g -> {
                    GovernorStats s = g.stats(); // one snapshot: the difference of two could go down
                    return s.rateLimited() - s.dailyRefusals();
                });
        counter(registry, GovernorMetricNames.RATE_LIMITED, GovernorMetricNames.TAG_KIND, "daily",
                g -> g.stats().dailyRefusals());
        counter(registry, GovernorMetricNames.TOKENS, GovernorMetricNames.TAG_KIND, "reserved",
                g -> g.stats().tokensReserved());
        counter(registry, GovernorMetricNames.TOKENS, GovernorMetricNames.TAG_KIND, "actual",
                g -> g.stats().tokensActual());
        counter(registry, GovernorMetricNames.TOKENS, GovernorMetricNames.TAG_KIND, "refunded",
                g -> g.stats().tokensRefunded());
        counter(registry, GovernorMetricNames.TOKENS, GovernorMetricNames.TAG_KIND, "debt",
                g -> g.stats().tokensDebt());
        counter(registry, GovernorMetricNames.ESTIMATION_ERROR, null, null, g -> g.stats().promptEstimateError());
        FunctionTimer.builder(GovernorMetricNames.COOLDOWN, governor, g -> g.stats().cooldowns(),
                        g -> g.stats().cooldownTime().toNanos(), TimeUnit.NANOSECONDS)
                .description("Cooldowns set from 429s").tag(GovernorMetricNames.TAG_GOVERNOR, name).register(registry);
        FunctionTimer.builder(GovernorMetricNames.WAIT, governor, g -> g.stats().calls(),
                        g -> g.stats().waited().toNanos(), TimeUnit.NANOSECONDS)
                .description("Time calls waited for quota, cooldowns and backoff")
                .tag(GovernorMetricNames.TAG_GOVERNOR, name).register(registry);
    }

    private void counter(MeterRegistry registry, String metric, @Nullable String tag, @Nullable String value,
            ToDoubleFunction<Governor> f) {
        FunctionCounter.Builder<Governor> b = FunctionCounter.builder(metric, governor, f)
                .tag(GovernorMetricNames.TAG_GOVERNOR, governor.name());
        if (tag != null && value != null) {
            b.tag(tag, value);
        }
        b.register(registry);
    }
}

package dev.sluice.core;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Micrometer metrics of one limiter (names in {@link SluiceMetricNames}): decisions by outcome, units by dimension
 * and outcome, time spent waiting (blocking and async acquires only), and the backend's live keys. Observes the
 * limiter as a {@link LimiterObserver}; records nothing until {@link #bindTo bound} to a registry, and into every
 * registry it is bound to. The live-keys gauge holds these metrics weakly, so it reads while they are referenced (as
 * the limiter they observe references them) and keeps no backend alive after.
 */
public final class LimiterMetrics implements MeterBinder, LimiterObserver {

    /** The {@code result} tag values of the units counter, by index. */
    private static final String[] RESULTS = {"granted", "denied", "refunded"};
    private static final int GRANTED = 0;
    private static final int DENIED = 1;
    private static final int REFUNDED = 2;

    private final String limiter;
    private final LongSupplier liveKeys;
    private final List<Bound> bound = new CopyOnWriteArrayList<>();

    /**
     * Metrics of the limiter named {@code limiter}.
     *
     * @param liveKeys the backend's live key count, for example {@code backend::liveKeys}
     */
    public LimiterMetrics(String limiter, LongSupplier liveKeys) {
        this.limiter = Objects.requireNonNull(limiter, "limiter");
        this.liveKeys = Objects.requireNonNull(liveKeys, "liveKeys");
    }

    /** Binds to {@code registry}; a second bind to the same registry does nothing (it would count twice). */
    @Override
    public synchronized void bindTo(MeterRegistry registry) {
        if (boundTo(registry)) {
            return;
        }
        Counter[] byReason = new Counter[Decision.Reason.values().length];
        for (Decision.Reason r : Decision.Reason.values()) {
            byReason[r.ordinal()] = Counter.builder(SluiceMetricNames.ACQUISITIONS)
                    .description("Final decisions of the limiter")
                    .tag(SluiceMetricNames.TAG_LIMITER, limiter)
                    .tag(SluiceMetricNames.TAG_RESULT, r.name().toLowerCase(Locale.ROOT))
                    .register(registry);
        }
        Timer wait = Timer.builder(SluiceMetricNames.WAIT)
                .description("Time blocking and async acquires waited")
                .tag(SluiceMetricNames.TAG_LIMITER, limiter)
                .register(registry);
        // A gauge of an earlier limiter of this name whose metrics were collected reads NaN: it gives way to this one.
        Gauge earlier = registry.find(SluiceMetricNames.KEYS).tag(SluiceMetricNames.TAG_LIMITER, limiter).gauge();
        if (earlier != null && Double.isNaN(earlier.value())) {
            registry.remove(earlier);
        }
        // Held weakly (these metrics live as long as their limiter's observer), so the gauge keeps no backend alive.
        Gauge.builder(SluiceMetricNames.KEYS, this, m -> m.liveKeys.getAsLong())
                .description("Keys holding limiter state in the backend (-1: unknown)")
                .tag(SluiceMetricNames.TAG_LIMITER, limiter)
                .register(registry);
        bound.add(new Bound(registry, byReason, wait));
    }

    /** Whether these metrics are bound to {@code registry}. */
    boolean boundTo(MeterRegistry registry) {
        for (Bound b : bound) {
            if (b.registry == registry) {
                return true;
            }
        }
        return false;
    }

    /** The limiter these metrics are of. */
    String limiter() {
        return limiter;
    }

    @Override
    public void onDecision(Policy policy, Cost cost, Decision decision, long waitedMicros) {
        int result = decision.reason() == Decision.Reason.GRANTED ? GRANTED : DENIED;
        for (Bound b : bound) {
            b.byReason[decision.reason().ordinal()].increment();
            if (waitedMicros >= 0) {
                b.wait.record(waitedMicros, TimeUnit.MICROSECONDS);
            }
            for (int i = 0; i < cost.size(); i++) {
                b.units(cost.dimension(i), result).increment(cost.units(i));
            }
        }
    }

    @Override
    public void onRefund(Policy policy, Cost cost) {
        for (Bound b : bound) {
            for (int i = 0; i < cost.size(); i++) {
                b.units(cost.dimension(i), REFUNDED).increment(cost.units(i));
            }
        }
    }

    private final class Bound {
        final MeterRegistry registry;
        final Counter[] byReason;
        final Timer wait;
        /** Per dimension, its units counters by result index: looked up by the dimension name alone, per call. */
        final Map<String, Counter[]> units = new ConcurrentHashMap<>();

        Bound(MeterRegistry registry, Counter[] byReason, Timer wait) {
            this.registry = registry;
            this.byReason = byReason;
            this.wait = wait;
        }

        Counter units(String dimension, int result) {
            Counter[] byResult = units.get(dimension);
            if (byResult == null) {
                byResult = units.computeIfAbsent(dimension, d -> {
                    Counter[] c = new Counter[RESULTS.length];
                    for (int r = 0; r < RESULTS.length; r++) {
                        c[r] = Counter.builder(SluiceMetricNames.UNITS)
                                .description("Units per dimension by outcome")
                                .tag(SluiceMetricNames.TAG_LIMITER, limiter)
                                .tag(SluiceMetricNames.TAG_DIMENSION, d)
                                .tag(SluiceMetricNames.TAG_RESULT, RESULTS[r])
                                .register(registry);
                    }
                    return c;
                });
            }
            return byResult[result];
        }
    }
}

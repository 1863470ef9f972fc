package dev.sluice.core.queue;

import dev.sluice.api.queue.JobQueue;
import dev.sluice.api.queue.Priority;
import dev.sluice.core.SluiceMetricNames;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * Micrometer metrics of one {@link Dispatcher} (names in {@link SluiceMetricNames}): queue depth per priority class,
 * time jobs waited in the queue before they started, and jobs by outcome (done, failed, dead-lettered, expired,
 * cancelled). Tags are the dispatcher's name, the priority class and the outcome: never tenants or payloads. The depth
 * gauges hold these metrics weakly, so they read while the dispatcher observed references them and keep no queue
 * alive after.
 */
public final class QueueMetrics implements MeterBinder, QueueObserver {

    private final String dispatcher;
    private final JobQueue queue;
    private final List<Bound> bound = new CopyOnWriteArrayList<>();

    /** Metrics of the dispatcher named {@code dispatcher} draining {@code queue}. */
    public QueueMetrics(String dispatcher, JobQueue queue) {
        this.dispatcher = Objects.requireNonNull(dispatcher, "dispatcher");
        this.queue = Objects.requireNonNull(queue, "queue");
    }

    /** Binds to {@code registry}; a second bind to the same registry does nothing (it would count twice). */
    @Override
    public synchronized void bindTo(MeterRegistry registry) {
        for (Bound b : bound) {
            if (b.registry() == registry) {
                return;
            }
        }
        int classes = Priority.values().length;
        Timer[] wait = new Timer[classes];
        Counter[][] outcomes = new Counter[classes][Outcome.values().length];
        for (Priority p : Priority.values()) {
            String priority = p.name().toLowerCase(Locale.ROOT);
            // as LimiterMetrics' keys gauge: held weakly, and a gauge of collected metrics gives way to this one
            Gauge earlier = registry.find(SluiceMetricNames.QUEUE_DEPTH).tag(SluiceMetricNames.TAG_DISPATCHER,
                    dispatcher).tag(SluiceMetricNames.TAG_PRIORITY, priority).gauge();
            if (earlier != null && Double.isNaN(earlier.value())) {
                registry.remove(earlier);
            }
            Gauge.builder(SluiceMetricNames.QUEUE_DEPTH, this, m -> m.queue.depth(p))
                    .description("Unfinished jobs (waiting or leased) in the queue")
                    .tag(SluiceMetricNames.TAG_DISPATCHER, dispatcher)
                    .tag(SluiceMetricNames.TAG_PRIORITY, priority)
                    .register(registry);
            wait[p.ordinal()] = Timer.builder(SluiceMetricNames.QUEUE_WAIT)
                    .description("Time from enqueue to start")
                    .tag(SluiceMetricNames.TAG_DISPATCHER, dispatcher)
                    .tag(SluiceMetricNames.TAG_PRIORITY, priority)
                    .register(registry);
            for (Outcome o : Outcome.values()) {
                outcomes[p.ordinal()][o.ordinal()] = Counter.builder(SluiceMetricNames.QUEUE_JOBS)
                        .description("Jobs by how they left the dispatcher")
                        .tag(SluiceMetricNames.TAG_DISPATCHER, dispatcher)
                        .tag(SluiceMetricNames.TAG_PRIORITY, priority)
                        .tag(SluiceMetricNames.TAG_RESULT, o.name().toLowerCase(Locale.ROOT))
                        .register(registry);
            }
        }
        bound.add(new Bound(registry, wait, outcomes));
    }

    @Override
    public void onStart(Priority priority, long waitedMicros) {
        for (Bound b : bound) {
            b.waits[priority.ordinal()].record(waitedMicros, TimeUnit.MICROSECONDS);
        }
    }

    @Override
    public void onOutcome(Priority priority, Outcome outcome) {
        for (Bound b : bound) {
            b.outcomes[priority.ordinal()][outcome.ordinal()].increment();
        }
    }

    private record Bound(MeterRegistry registry, Timer[] waits, Counter[][] outcomes) {
    }
}

package dev.sluice.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.queue.JobRequest;
import dev.sluice.api.queue.Priority;
import dev.sluice.core.SluiceMetricNames;
import dev.sluice.core.queue.QueueMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.ref.Reference;
import java.lang.ref.WeakReference;
import org.junit.jupiter.api.Test;

/** {@link QueueMetrics}' depth gauge on {@link MemoryJobQueue}s. */
class QueueMetricsTest {

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    private double depth() {
        return registry.get(SluiceMetricNames.QUEUE_DEPTH).tags(SluiceMetricNames.TAG_DISPATCHER, "d",
                SluiceMetricNames.TAG_PRIORITY, "normal").gauge().value();
    }

    /** Metrics of dispatcher "d" on a queue of its own holding {@code jobs} jobs, bound; the queue, weakly. */
    private WeakReference<MemoryJobQueue> metricsOnAQueueOf(int jobs) {
        MemoryJobQueue queue = MemoryJobQueue.builder().build();
        for (int i = 0; i < jobs; i++) {
            queue.enqueue(JobRequest.builder(new byte[] {(byte) i}).tenant("t").priority(Priority.NORMAL).build());
        }
        QueueMetrics metrics = new QueueMetrics("d", queue); // held by its dispatcher in real use
        metrics.bindTo(registry);
        assertThat(depth()).isEqualTo(jobs);
        Reference.reachabilityFence(metrics);
        return new WeakReference<>(queue);
    }

    @Test
    void aDispatchersMetricsRebuiltUnderItsNameReportTheirOwnQueue_andTheGaugeKeepsNoQueueAlive() throws Exception {
        WeakReference<MemoryJobQueue> first = metricsOnAQueueOf(3);
        for (int i = 0; i < 100 && first.get() != null; i++) {
            System.gc();
            Thread.sleep(10);
        }
        assertThat(first.get()).as("the first queue, once its metrics are gone").isNull();
        metricsOnAQueueOf(2); // and the gauge now reads the second queue
    }
}

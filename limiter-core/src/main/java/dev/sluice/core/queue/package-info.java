/**
 * The dispatcher that drains a {@link dev.sluice.api.queue.JobQueue} at the rate a {@link
 * dev.sluice.api.RateLimiter} allows: {@link dev.sluice.core.queue.Dispatcher} takes priority classes in order and
 * shares each class between tenants by weight, starts a job only when the limiter admits its cost, rejects at once a
 * job whose deadline the predicted wait would miss, and drains gracefully on close. {@link
 * dev.sluice.core.queue.QueueMetrics} records it in Micrometer; {@link dev.sluice.core.queue.DispatcherModule} wires
 * it with Guice.
 */
@NullMarked
package dev.sluice.core.queue;

import org.jspecify.annotations.NullMarked;

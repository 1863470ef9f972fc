/**
 * The limiter applications call. {@link dev.sluice.core.SluiceLimiter} validates input, resolves each key's policy,
 * asks a {@link dev.sluice.api.spi.LimiterBackend} to apply it, and turns decisions into waits: a blocking or async
 * acquire sleeps or schedules exactly the predicted wait, or less when a refund gives room back, never polls. Metrics go through
 * {@link dev.sluice.core.LimiterMetrics}; {@link dev.sluice.core.LimiterModule} wires it all with Guice.
 * {@link dev.sluice.core.OutageDecisions} is how every shared backend decides while its server cannot answer.
 */
@NullMarked
package dev.sluice.core;

import org.jspecify.annotations.NullMarked;

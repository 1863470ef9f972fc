/**
 * What every Sluice backend must pass: {@link dev.sluice.testkit.LimiterCompatibilityKit}, an abstract JUnit 5 suite a
 * backend runs through a short subclass, with manual time ({@link dev.sluice.testkit.ManualScheduler}) so no test
 * sleeps, the reference executor {@link dev.sluice.testkit.ReferenceBackend}, and the seeded differential test that
 * replays random operation sequences on both; and {@link dev.sluice.testkit.CacheCompatibilityKit}, the same for
 * {@link dev.sluice.api.cache.CacheStore}s.
 */
@NullMarked
package dev.sluice.testkit;

import org.jspecify.annotations.NullMarked;

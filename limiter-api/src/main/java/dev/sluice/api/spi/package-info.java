/**
 * The service-provider interface a backend implements: {@link dev.sluice.api.spi.LimiterBackend} applies a policy to
 * one key's stored state atomically. Backends are executors of the reference algorithms in {@code limiter-core}; the
 * testkit's compatibility kit checks that each one decides exactly as the reference does.
 */
@NullMarked
package dev.sluice.api.spi;

import org.jspecify.annotations.NullMarked;

/**
 * The reference algorithms: each a pure, deterministic transition {@code (state, cost, now) -> (state', decision)} in
 * 64-bit integer arithmetic on microseconds, with no clock read and no floating point. {@link
 * dev.sluice.core.engine.PolicyEngine} applies a whole policy all or nothing. These classes are the specification:
 * the in-memory and Hazelcast backends run them, the Redis scripts reproduce them, and the testkit's differential
 * test checks every backend against them.
 */
@NullMarked
package dev.sluice.core.engine;

import org.jspecify.annotations.NullMarked;

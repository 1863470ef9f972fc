/**
 * The Redis backend: one quota shared by every instance. {@link dev.sluice.redis.RedisBackend} runs the reference
 * algorithms of {@code limiter-core} as one Lua script (its twin, checked decision for decision by the testkit's
 * differential test), as a Redis function ({@code FCALL}, Redis 7+) or with {@code EVALSHA}: one round trip per
 * acquire or refund, all limits of a policy in one
 * atomic step, Redis {@code TIME} as the clock, and an explicit {@link dev.sluice.core.FailurePolicy} when Redis
 * cannot answer.
 */
@NullMarked
package dev.sluice.redis;

import org.jspecify.annotations.NullMarked;

/**
 * Real Redis servers for tests, never the machine's own Redis on 127.0.0.1:6379. {@link
 * dev.sluice.testkit.redis.RedisServer} runs a private {@code redis-server} on a free loopback port that a test may
 * kill and restart, and {@link dev.sluice.testkit.redis.RedisCluster} joins several into a cluster. {@link
 * dev.sluice.testkit.redis.RedisExtension} hands a test class one {@link dev.sluice.testkit.redis.RedisEndpoint}: an
 * external Redis named by {@code SLUICE_REDIS_URL}, else a private server, else a Testcontainers container, else it
 * aborts the class and says how to install {@code redis-server}.
 */
@NullMarked
package dev.sluice.testkit.redis;

import org.jspecify.annotations.NullMarked;

/**
 * The service-provider interface of shared stores: {@link dev.sluice.api.cache.CacheStore} keeps bytes under a key
 * for a time to live. Response caches, single-flight markers and provider cooldowns are built on it; backends provide
 * it in memory (Caffeine), in Redis and in Hazelcast, each checked by the testkit's cache compatibility kit.
 */
@NullMarked
package dev.sluice.api.cache;

import org.jspecify.annotations.NullMarked;

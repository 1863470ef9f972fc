/**
 * Response caching for LLM calls: {@link dev.sluice.cache.ResponseCache} answers repeated requests from a shared
 * {@link dev.sluice.api.cache.CacheStore} without spending quota, and coalesces concurrent identical requests into one
 * upstream call on one instance and across instances. Keys are SHA-256 hashes of a canonical request form
 * ({@link dev.sluice.cache.CacheKeys}); what is cached and for how long is the {@link dev.sluice.cache.CachePolicy}'s.
 */
@NullMarked
package dev.sluice.cache;

import org.jspecify.annotations.NullMarked;

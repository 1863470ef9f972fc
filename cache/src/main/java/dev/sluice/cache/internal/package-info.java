/**
 * Implementation details of the response cache: the canonical JSON writer behind keys, the stored envelope format and
 * the counters behind statistics and metrics. Not an API.
 */
@NullMarked
package dev.sluice.cache.internal;

import org.jspecify.annotations.NullMarked;

/**
 * The in-memory backend: limiter state in the JVM, for a single instance or for tests. {@link
 * dev.sluice.memory.MemoryBackend} runs the reference algorithms with one compare-and-set per acquire and forgets
 * idle keys; {@link dev.sluice.memory.Bucket4jBackend} runs token-bucket policies on Bucket4j's local engine instead.
 */
@NullMarked
package dev.sluice.memory;

import org.jspecify.annotations.NullMarked;

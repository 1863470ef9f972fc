/**
 * The Hazelcast backend: one quota shared across a cluster. {@link dev.sluice.hazelcast.HazelcastBackend} runs the
 * reference algorithms of {@code limiter-core} themselves (no second copy) inside an entry processor on the key's
 * partition owner: one network hop, atomic per key, a policy of several limits charged all or none in one entry.
 */
@NullMarked
package dev.sluice.hazelcast;

import org.jspecify.annotations.NullMarked;

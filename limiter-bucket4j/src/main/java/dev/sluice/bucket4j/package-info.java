/**
 * Runs Sluice token-bucket policies on Bucket4j buckets. {@link dev.sluice.bucket4j.Bucket4jPolicies} maps a limit to a
 * Bucket4j bandwidth and charges a policy's buckets all or nothing; the in-memory, Redis and Hazelcast backends use it
 * to offer Bucket4j's engine behind the Sluice API, each storing the buckets its own way.
 */
@NullMarked
package dev.sluice.bucket4j;

import org.jspecify.annotations.NullMarked;

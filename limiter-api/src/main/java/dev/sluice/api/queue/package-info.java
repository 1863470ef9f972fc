/**
 * The service-provider interface of work queues: {@link dev.sluice.api.queue.JobQueue} holds {@link
 * dev.sluice.api.queue.Job}s per priority class and tenant with at-least-once delivery: a worker takes a job under a
 * {@link dev.sluice.api.queue.Lease}, then acks it or gives it back; an expired lease makes the job visible again,
 * and after too many deliveries it moves to a dead-letter list. Backends provide it in memory, on Redis Streams and
 * on Hazelcast, each checked by the testkit's queue compatibility kit; limiter-core's dispatcher drains it at the rate
 * a limiter allows.
 */
@NullMarked
package dev.sluice.api.queue;

import org.jspecify.annotations.NullMarked;

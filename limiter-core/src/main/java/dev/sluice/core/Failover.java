package dev.sluice.core;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;
import java.time.Duration;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * What a shared backend (Redis, Hazelcast) decides while its server cannot answer: its {@link OutageDecisions}, and a
 * ledger of the units they granted, per key, until refunded. A refund draws on that ledger first and gives those
 * units back to the failure policy, so the server is never credited with units it never took (which would let the
 * fleet exceed a shared limit once it answers again). Bounded: at most {@code maxKeys} keys, each forgotten
 * {@code ttl} after its last change; a refund after that goes to the server, as it would without the ledger.
 * Thread-safe; one per backend.
 */
public final class Failover {

    /** A refund split in two: the part drawn on degraded grants, and the rest; either may be null (nothing). */
    record Split(@Nullable Cost absorbed, @Nullable Cost rest) {
    }

    /**
     * What {@link #takeBack} did: the failure policy's answer for the part it took back (null if none), and what is
     * left for the server (null if nothing).
     */
    public record Refund(@Nullable Decision answer, @Nullable Cost rest) {
    }

    private final OutageDecisions outage;
    private final Cache<String, Cost> owed;

    private Failover(OutageDecisions outage, long maxKeys, Duration ttl) {
        this.outage = outage;
        this.owed = Caffeine.newBuilder().maximumSize(maxKeys).expireAfterWrite(ttl).build();
    }

    /**
     * {@code outage}'s decisions with a ledger of at most {@code maxKeys} keys, each forgotten {@code ttl} after its
     * last change.
     *
     * @throws IllegalArgumentException if {@code maxKeys} is not positive or {@code ttl} is not positive
     */
    public static Failover of(OutageDecisions outage, long maxKeys, Duration ttl) {
        if (maxKeys < 1) {
            throw new IllegalArgumentException("maxKeys must be positive, was " + maxKeys);
        }
        if (ttl == null || ttl.isNegative() || ttl.isZero()) {
            throw new IllegalArgumentException("ttl must be positive, was " + ttl);
        }
        return new Failover(Objects.requireNonNull(outage, "outage"), maxKeys, ttl);
    }

    /** {@code outage}'s decisions with a ledger of at most 100,000 keys, each forgotten after 10 minutes. */
    public static Failover of(OutageDecisions outage) {
        return of(outage, 100_000, Duration.ofMinutes(10));
    }

    /** The failure policy's decision for an acquire the server could not take; a grant is noted in the ledger. */
    public Decision acquire(String key, Policy policy, Cost cost) {
        Decision d = outage.acquire(key, policy, cost);
        if (d.reason() == Decision.Reason.GRANTED) {
            owed.asMap().merge(key, cost, Failover::plus);
        }
        return d;
    }

    /** The failure policy's answer to a refund the server could not take. */
    public Decision refund(String key, Policy policy, Cost cost) {
        return outage.refund(key, policy, cost);
    }

    /**
     * Gives back to the failure policy the part of a refund that it granted (per the ledger), before the rest goes to
     * the server.
     */
    public Refund takeBack(String key, Policy policy, Cost cost) {
        Split split = split(key, cost);
        Cost absorbed = split.absorbed();
        return new Refund(absorbed == null ? null : outage.refund(key, policy, absorbed), split.rest());
    }

    /** Splits a refund of {@code cost} to {@code key}, taking the absorbed part off the ledger. */
    Split split(String key, Cost cost) {
        Cost[] parts = new Cost[2];
        owed.asMap().computeIfPresent(key, (k, o) -> {
            Cost absorbed = null;
            Cost rest = null;
            Cost left = null;
            for (int i = 0; i < cost.size(); i++) {
                String dim = cost.dimension(i);
                long take = Math.min(cost.units(i), o.units(dim));
                absorbed = take > 0 ? add(absorbed, dim, take) : absorbed;
                rest = cost.units(i) > take ? add(rest, dim, cost.units(i) - take) : rest;
            }
            for (int i = 0; i < o.size(); i++) {
                String dim = o.dimension(i);
                long remains = o.units(i) - Math.min(o.units(i), cost.units(dim));
                left = remains > 0 ? add(left, dim, remains) : left;
            }
            parts[0] = absorbed;
            parts[1] = rest;
            return left; // null removes the key
        });
        return parts[0] == null && parts[1] == null ? new Split(null, cost) : new Split(parts[0], parts[1]);
    }

    /** How many keys owe degraded grants: for tests and metrics. */
    public long keys() {
        owed.cleanUp();
        return owed.estimatedSize();
    }

    private static Cost plus(Cost a, Cost b) {
        Cost sum = null;
        for (int i = 0; i < a.size(); i++) {
            String dim = a.dimension(i);
            sum = add(sum, dim, saturatedAdd(a.units(i), b.units(dim)));
        }
        for (int i = 0; i < b.size(); i++) {
            String dim = b.dimension(i);
            if (a.units(dim) == 0) {
                sum = add(sum, dim, b.units(i));
            }
        }
        return Objects.requireNonNull(sum);
    }

    private static Cost add(@Nullable Cost c, String dim, long units) {
        return c == null ? Cost.of(dim, units) : c.and(dim, units);
    }

    private static long saturatedAdd(long a, long b) {
        long s = a + b;
        return s < 0 ? Long.MAX_VALUE : s;
    }
}

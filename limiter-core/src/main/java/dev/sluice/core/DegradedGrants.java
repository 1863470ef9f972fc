package dev.sluice.core;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.sluice.api.Cost;
import java.time.Duration;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The units a shared backend's failure policy granted and its server never charged, per key, until they are refunded.
 * A refund draws on them first and gives them back to the failure policy, so the server is never credited with units
 * it never took (which would let the fleet exceed a shared limit once it answers again). Bounded: at most
 * {@code maxKeys} keys, each forgotten {@code ttl} after its last degraded grant; a refund after that goes to the
 * server, as it would without this ledger. Thread-safe.
 */
public final class DegradedGrants {

    /** A refund split in two: the part drawn on degraded grants, and the rest; either may be null (nothing). */
    public record Split(@Nullable Cost absorbed, @Nullable Cost rest) {
    }

    private final Cache<String, Cost> owed;

    private DegradedGrants(long maxKeys, Duration ttl) {
        this.owed = Caffeine.newBuilder().maximumSize(maxKeys).expireAfterWrite(ttl).build();
    }

    /**
     * A ledger of at most {@code maxKeys} keys, each forgotten {@code ttl} after its last degraded grant.
     *
     * @throws IllegalArgumentException if {@code maxKeys} is not positive or {@code ttl} is not positive
     */
    public static DegradedGrants of(long maxKeys, Duration ttl) {
        if (maxKeys < 1) {
            throw new IllegalArgumentException("maxKeys must be positive, was " + maxKeys);
        }
        if (ttl == null || ttl.isNegative() || ttl.isZero()) {
            throw new IllegalArgumentException("ttl must be positive, was " + ttl);
        }
        return new DegradedGrants(maxKeys, ttl);
    }

    /** At most 100,000 keys, each forgotten 10 minutes after its last degraded grant. */
    public static DegradedGrants create() {
        return of(100_000, Duration.ofMinutes(10));
    }

    /** Notes that the failure policy granted {@code cost} to {@code key}. */
    public void granted(String key, Cost cost) {
        owed.asMap().merge(key, Objects.requireNonNull(cost, "cost"), DegradedGrants::plus);
    }

    /** Splits a refund of {@code cost} to {@code key}, taking the absorbed part off the ledger. */
    public Split split(String key, Cost cost) {
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

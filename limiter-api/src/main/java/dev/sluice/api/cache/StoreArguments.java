package dev.sluice.api.cache;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Base64;
import java.util.Objects;

/**
 * The argument checks every {@link CacheStore} applies, in one place so that all stores fail alike, and the one
 * key hash stores use to keep caller keys (of any length and content) out of their own key space.
 */
public final class StoreArguments {

    /** The longest time to live a store keeps exactly; longer ones are cut to it (about 31,000 years). */
    public static final long MAX_TTL_MILLIS = 1_000_000_000_000_000L;

    private static final Duration MAX_NANOS_TTL = Duration.ofDays(36_525);

    private StoreArguments() {
    }

    /**
     * Returns {@code key} if it is a valid cache key.
     *
     * @throws NullPointerException if it is null
     * @throws IllegalArgumentException if it is empty
     */
    public static String key(String key) {
        Objects.requireNonNull(key, "cache key must not be null");
        if (key.isEmpty()) {
            throw new IllegalArgumentException("cache key must not be empty");
        }
        return key;
    }

    /**
     * Returns {@code value} if it is not null.
     *
     * @throws NullPointerException if it is null
     */
    public static byte[] value(byte[] value) {
        return Objects.requireNonNull(value, "cache value must not be null");
    }

    /**
     * The time to live in whole milliseconds, rounded up (so a store never keeps an entry for less than asked) and
     * capped at {@link #MAX_TTL_MILLIS}.
     *
     * @throws NullPointerException if it is null
     * @throws IllegalArgumentException unless it is positive
     */
    public static long ttlMillis(Duration ttl) {
        Objects.requireNonNull(ttl, "cache ttl must not be null");
        if (ttl.isNegative() || ttl.isZero()) {
            throw new IllegalArgumentException("cache ttl must be positive, was " + ttl);
        }
        if (ttl.getSeconds() >= MAX_TTL_MILLIS / 1000) {
            return MAX_TTL_MILLIS;
        }
        long millis = ttl.toMillis();
        return ttl.getNano() % 1_000_000 == 0 ? millis : millis + 1;
    }

    /**
     * The time to live in nanoseconds, capped at 100 years (the most a {@code long} of nanoseconds holds with room to
     * add a clock reading), for in-process stores.
     *
     * @throws NullPointerException if it is null
     * @throws IllegalArgumentException unless it is positive
     */
    public static long ttlNanos(Duration ttl) {
        ttlMillis(ttl);
        return ttl.compareTo(MAX_NANOS_TTL) >= 0 ? MAX_NANOS_TTL.toNanos() : ttl.toNanos();
    }

    /**
     * A fixed-length name for {@code key}: the URL-safe Base64 (43 characters, no padding) of the SHA-256 of its
     * UTF-16 code units. Unlike UTF-8 this is injective on every Java string, unpaired surrogates included.
     */
    public static String hashed(String key) {
        ByteBuffer units = ByteBuffer.allocate(key.length() * 2);
        units.asCharBuffer().put(key);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(sha256().digest(units.array()));
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }
}

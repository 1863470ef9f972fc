package dev.sluice.api;

import java.time.Duration;
import java.time.temporal.ChronoUnit;

/**
 * A capacity per period on one named dimension, enforced by one {@link Algorithm}: for example 15 {@code requests}
 * per minute, or 1,000,000 {@code tokens} per minute. Immutable and validated on construction.
 *
 * <p>Time is kept in whole microseconds. So that every backend can compute exactly in 64-bit integers, the
 * algorithms that weigh time against units bound their numbers: {@code burst × period} for the token bucket and
 * GCRA, {@code capacity × period} for the sliding-window counter (period in microseconds) must stay below
 * {@link #MAX_PRODUCT}, so 1,000,000 tokens per minute is fine and 50,000,000 per day too. A sliding log holds at most
 * {@link #MAX_LOG_CAPACITY} units. The fixed window takes any positive capacity.
 */
public final class Limit {

    /**
     * The largest value of {@code capacity × periodMicros} for {@link Algorithm#SLIDING_WINDOW_COUNTER}, and of
     * {@code burst × periodMicros} for {@link Algorithm#TOKEN_BUCKET} and {@link Algorithm#GCRA}: 2<sup>62</sup>.
     */
    public static final long MAX_PRODUCT = 1L << 62;
    /** The largest capacity of a {@link Algorithm#SLIDING_LOG} limit, whose state grows with its grants. */
    public static final long MAX_LOG_CAPACITY = 100_000;
    /** The shortest period a limit may have. */
    public static final Duration MIN_PERIOD = Duration.ofMillis(1);

    private final String dimension;
    private final long capacity;
    private final long periodMicros;
    private final Algorithm algorithm;
    private final long burst;

    private Limit(String dimension, long capacity, long periodMicros, Algorithm algorithm, long burst) {
        this.dimension = dimension;
        this.capacity = capacity;
        this.periodMicros = periodMicros;
        this.algorithm = algorithm;
        this.burst = burst;
    }

    /**
     * A limit of {@code capacity} units of {@code dimension} per {@code period}, with the algorithm's default burst
     * ({@code capacity} for {@link Algorithm#TOKEN_BUCKET}, 1 for {@link Algorithm#GCRA}).
     *
     * @throws IllegalArgumentException if the dimension is not 1-64 characters of {@code [A-Za-z0-9_.-]}, the
     *     capacity is not positive, the period or the algorithm is null, the period is shorter than
     *     {@link #MIN_PERIOD}, or the numbers exceed the bounds above
     */
    public static Limit of(String dimension, long capacity, Duration period, Algorithm algorithm) {
        checkDimension(dimension);
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity of '" + dimension + "' must be positive, was " + capacity);
        }
        if (algorithm == null) {
            throw new IllegalArgumentException("algorithm of '" + dimension + "' must not be null");
        }
        long periodMicros = periodMicros(dimension, period);
        long burst = algorithm == Algorithm.GCRA ? 1 : capacity;
        if (algorithm == Algorithm.SLIDING_WINDOW_COUNTER || algorithm == Algorithm.TOKEN_BUCKET) {
            checkProduct(dimension, "capacity", capacity, periodMicros);
        }
        if (algorithm == Algorithm.SLIDING_LOG && capacity > MAX_LOG_CAPACITY) {
            throw new IllegalArgumentException("capacity of '" + dimension + "' is too large for SLIDING_LOG: "
                    + capacity + " > " + MAX_LOG_CAPACITY + " (use SLIDING_WINDOW_COUNTER or GCRA)");
        }
        return new Limit(dimension, capacity, periodMicros, algorithm, burst);
    }

    /** {@code capacity} units per second with a token bucket; see {@link #of}. */
    public static Limit perSecond(String dimension, long capacity) {
        return of(dimension, capacity, Duration.ofSeconds(1), Algorithm.TOKEN_BUCKET);
    }

    /** {@code capacity} units per minute with a token bucket; see {@link #of}. */
    public static Limit perMinute(String dimension, long capacity) {
        return of(dimension, capacity, Duration.ofMinutes(1), Algorithm.TOKEN_BUCKET);
    }

    /** {@code capacity} units per hour with a token bucket; see {@link #of}. */
    public static Limit perHour(String dimension, long capacity) {
        return of(dimension, capacity, Duration.ofHours(1), Algorithm.TOKEN_BUCKET);
    }

    /** {@code capacity} units per day with a fixed window aligned to UTC midnight; see {@link #of}. */
    public static Limit perDay(String dimension, long capacity) {
        return of(dimension, capacity, Duration.ofDays(1), Algorithm.FIXED_WINDOW);
    }

    /** This limit with another algorithm, and that algorithm's default burst. */
    public Limit withAlgorithm(Algorithm algorithm) {
        return of(dimension, capacity, period(), algorithm);
    }

    /**
     * This limit with another burst: the most units a {@link Algorithm#TOKEN_BUCKET} holds, or the most units a
     * {@link Algorithm#GCRA} admits at once. It is also the largest cost a single call can ever be granted.
     *
     * @throws IllegalArgumentException if the algorithm has no burst, the burst is not positive, or
     *     {@code burst × period} overflows {@link #MAX_PRODUCT}
     */
    public Limit withBurst(long burst) {
        if (!algorithm.hasBurst()) {
            throw new IllegalArgumentException(
                    "burst applies to TOKEN_BUCKET and GCRA only, not to " + algorithm + " (limit " + this + ")");
        }
        if (burst < 1) {
            throw new IllegalArgumentException("burst of '" + dimension + "' must be positive, was " + burst);
        }
        checkProduct(dimension, "burst", burst, periodMicros);
        return new Limit(dimension, capacity, periodMicros, algorithm, burst);
    }

    /** The dimension this limit counts, such as {@code requests} or {@code tokens}. */
    public String dimension() {
        return dimension;
    }

    /** Units admitted per period. */
    public long capacity() {
        return capacity;
    }

    /** The period, a whole number of microseconds. */
    public Duration period() {
        return Duration.of(periodMicros, ChronoUnit.MICROS);
    }

    /** The period in microseconds. */
    public long periodMicros() {
        return periodMicros;
    }

    /** The algorithm that enforces this limit. */
    public Algorithm algorithm() {
        return algorithm;
    }

    /**
     * The burst of a token bucket or GCRA limit; for the window algorithms, the capacity. Either way, the largest
     * cost one call can be granted.
     */
    public long burst() {
        return burst;
    }

    /** The largest cost a single call can ever be granted under this limit. */
    public long maxCost() {
        return algorithm.hasBurst() ? burst : capacity;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Limit l
                && capacity == l.capacity
                && periodMicros == l.periodMicros
                && burst == l.burst
                && algorithm == l.algorithm
                && dimension.equals(l.dimension);
    }

    @Override
    public int hashCode() {
        int h = dimension.hashCode();
        h = 31 * h + Long.hashCode(capacity);
        h = 31 * h + Long.hashCode(periodMicros);
        h = 31 * h + algorithm.hashCode();
        return 31 * h + Long.hashCode(burst);
    }

    /** For example {@code tokens 1000000/PT1M TOKEN_BUCKET burst 1000000}. */
    @Override
    public String toString() {
        return dimension + " " + capacity + "/" + period() + " " + algorithm
                + (algorithm.hasBurst() ? " burst " + burst : "");
    }

    static void checkDimension(String dimension) {
        if (!isDimension(dimension)) {
            throw new IllegalArgumentException(
                    "dimension must be 1-64 characters of [A-Za-z0-9_.-], was " + quote(dimension));
        }
    }

    /** Whether {@code s} is 1-64 characters of {@code [A-Za-z0-9_.-]}; a loop, since costs are built per call. */
    private static boolean isDimension(String s) {
        if (s == null || s.isEmpty() || s.length() > 64) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'
                    || c == '-')) {
                return false;
            }
        }
        return true;
    }

    private static String quote(String s) {
        if (s == null) {
            return "null";
        }
        return "'" + (s.length() > 80 ? s.substring(0, 80) + "..." : s) + "'";
    }

    private static long periodMicros(String dimension, Duration period) {
        if (period == null) {
            throw new IllegalArgumentException("period of '" + dimension + "' must not be null");
        }
        if (period.compareTo(MIN_PERIOD) < 0) {
            throw new IllegalArgumentException(
                    "period of '" + dimension + "' must be at least " + MIN_PERIOD + ", was " + period);
        }
        long seconds = period.getSeconds();
        if (seconds > MAX_PRODUCT / 1_000_000L) {
            throw new IllegalArgumentException("period of '" + dimension + "' is too long: " + period);
        }
        return seconds * 1_000_000L + period.getNano() / 1000;
    }

    private static void checkProduct(String dimension, String what, long value, long periodMicros) {
        if (value > MAX_PRODUCT / periodMicros) {
            throw new IllegalArgumentException(what + " of '" + dimension + "' is too large for its period: "
                    + value + " × " + periodMicros + "µs exceeds 2^62");
        }
    }
}

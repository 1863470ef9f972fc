package dev.sluice.governor;

import java.time.Instant;
import java.time.LocalTime;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import org.jspecify.annotations.Nullable;

/**
 * When a provider's daily limits start afresh: {@linkplain #rolling() rolling} (the last 24 hours count) or at a fixed
 * time of day in a time zone (Gemini: midnight Pacific time). Immutable.
 *
 * @param time the reset time of day, or null when rolling
 * @param zone the zone of {@code time}, or null when rolling
 */
public record DailyReset(@Nullable LocalTime time, @Nullable ZoneId zone) {

    private static final DailyReset ROLLING = new DailyReset(null, null);

    /** Validates: both or neither. */
    public DailyReset {
        if ((time == null) != (zone == null)) {
            throw new IllegalArgumentException("a fixed daily reset needs both a time and a zone");
        }
    }

    /** A rolling day. */
    public static DailyReset rolling() {
        return ROLLING;
    }

    /** A reset at {@code time} in {@code zone}. */
    public static DailyReset at(LocalTime time, ZoneId zone) {
        return new DailyReset(time, zone);
    }

    /**
     * Parses {@code rolling}, or {@code HH:mm Zone} such as {@code 00:00 America/Los_Angeles} or {@code 00:00 UTC}.
     *
     * @throws IllegalArgumentException naming the text if it is neither
     */
    public static DailyReset parse(String text) {
        String t = text.trim();
        if (t.equalsIgnoreCase("rolling")) {
            return ROLLING;
        }
        String[] parts = t.split("\\s+");
        try {
            if (parts.length == 2) {
                return at(LocalTime.parse(parts[0]), ZoneId.of(parts[1]));
            }
        } catch (java.time.DateTimeException e) {
            throw new IllegalArgumentException("dailyReset must be 'rolling' or 'HH:mm Zone', was '" + text + "'", e);
        }
        throw new IllegalArgumentException("dailyReset must be 'rolling' or 'HH:mm Zone', was '" + text + "'");
    }

    /** Whether the last 24 hours count rather than a calendar day. */
    public boolean isRolling() {
        return time == null;
    }

    /** Whether this is a reset at midnight UTC, which a fixed window aligned to the epoch enforces exactly. */
    public boolean isUtcMidnight() {
        return time != null && zone != null && time.equals(LocalTime.MIDNIGHT)
                && zone.normalized().equals(java.time.ZoneOffset.UTC);
    }

    /**
     * The next reset strictly after {@code now}; for a rolling day, {@code now} plus one day (the latest moment
     * by which the whole window has rolled over).
     */
    public Instant nextAfter(Instant now) {
        if (time == null || zone == null) {
            return now.plus(java.time.Duration.ofDays(1));
        }
        ZonedDateTime z = now.atZone(zone);
        ZonedDateTime candidate = z.toLocalDate().atTime(time).atZone(zone);
        if (!candidate.toInstant().isAfter(now)) {
            candidate = z.toLocalDate().plusDays(1).atTime(time).atZone(zone);
        }
        return candidate.toInstant();
    }

    @Override
    public String toString() {
        return time == null ? "rolling" : time + " " + zone;
    }
}

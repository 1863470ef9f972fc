package dev.sluice.core;

import java.math.BigDecimal;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Parses durations as configuration files and providers write them: Go's {@code 6m0s}, {@code 1.5s}, {@code 20ms},
 * {@code 1h2m3.5s}, also {@code 1d}, ISO-8601 ({@code PT1M}) and bare seconds. One parser for the governor's headers
 * and profiles, the gateway's configuration and the simulator's options.
 */
public final class Durations {

    private static final Pattern PART = Pattern.compile("(\\d+(?:\\.\\d+)?)(ns|us|µs|ms|s|m|h|d)");

    private Durations() {
    }

    /**
     * The duration written in {@code text}: a sequence of number+unit parts ({@code ns us ms s m h d}), ISO-8601
     * ({@code PT1M}), or a bare number of seconds. Null if it is none of these (never throws).
     */
    public static @Nullable Duration parse(@Nullable String text) {
        if (text == null) {
            return null;
        }
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.isEmpty()) {
            return null;
        }
        try {
            if (t.startsWith("pt") || t.startsWith("p")) {
                return Duration.parse(text.trim());
            }
            if (t.matches("\\d+(\\.\\d+)?")) {
                return nanos(new BigDecimal(t), 1_000_000_000L);
            }
            Matcher m = PART.matcher(t);
            int at = 0;
            Duration total = Duration.ZERO;
            while (at < t.length()) {
                if (!m.find(at) || m.start() != at) {
                    return null;
                }
                BigDecimal n = new BigDecimal(m.group(1));
                long unit = switch (m.group(2)) {
                    case "ns" -> 1L;
                    case "us", "µs" -> 1_000L;
                    case "ms" -> 1_000_000L;
                    case "s" -> 1_000_000_000L;
                    case "m" -> 60_000_000_000L;
                    case "h" -> 3_600_000_000_000L;
                    default -> 86_400_000_000_000L;
                };
                total = total.plus(nanos(n, unit));
                at = m.end();
            }
            return total;
        } catch (DateTimeParseException | ArithmeticException | NumberFormatException e) {
            return null;
        }
    }

    private static Duration nanos(BigDecimal n, long unitNanos) {
        return Duration.ofNanos(n.multiply(BigDecimal.valueOf(unitNanos)).setScale(0, java.math.RoundingMode.CEILING)
                .longValueExact());
    }
}

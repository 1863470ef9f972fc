package dev.sluice.core.engine;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * Compact, stable encodings for backends that store state outside the JVM: a policy as a short spec string
 * ({@code dim:ALG:capacity:periodMicros:burst;} per limit, ALG one of F L C T G) and a {@link PolicyState} as a few
 * bytes (its spec and each limit's numbers), never Java serialization of object graphs.
 */
public final class PolicyCodec {

    private static final int MAX_CACHED = 10_000;
    private static final Map<String, Policy> PARSED = new ConcurrentHashMap<>();

    private PolicyCodec() {
    }

    /** The spec of {@code policy} (its shadow flag is not part of it: shadow mode is applied by the limiter). */
    public static String spec(Policy policy) {
        StringBuilder sb = new StringBuilder();
        for (Limit l : policy.limits()) {
            sb.append(l.dimension()).append(':').append(code(l.algorithm())).append(':').append(l.capacity())
                    .append(':').append(l.periodMicros()).append(':').append(l.burst()).append(';');
        }
        return sb.toString();
    }

    /**
     * The policy a spec describes (cached: specs are few).
     *
     * @throws IllegalArgumentException if the spec is malformed
     */
    public static Policy parse(String spec) {
        Policy p = PARSED.get(spec);
        if (p != null) {
            return p;
        }
        List<Limit> limits = new ArrayList<>();
        for (String part : spec.split(";")) {
            if (part.isEmpty()) {
                continue;
            }
            String[] f = part.split(":");
            if (f.length != 5) {
                throw new IllegalArgumentException("malformed policy spec: " + spec);
            }
            Algorithm a = algorithm(f[1]);
            Limit l = Limit.of(f[0], Long.parseLong(f[2]), Duration.of(Long.parseLong(f[3]), ChronoUnit.MICROS), a);
            if (a.hasBurst()) {
                l = l.withBurst(Long.parseLong(f[4]));
            }
            limits.add(l);
        }
        p = Policy.of(limits);
        if (PARSED.size() > MAX_CACHED) {
            PARSED.clear();
        }
        PARSED.put(spec, p);
        return p;
    }

    /** {@code state} as bytes: its policy's spec, then per limit a tag and its numbers. */
    public static byte[] encode(PolicyState state) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);
            DataOutputStream out = new DataOutputStream(bytes);
            out.writeUTF(spec(state.policy()));
            for (int i = 0; i < state.size(); i++) {
                LimitState s = state.limit(i);
                if (s == null) {
                    out.writeByte(0);
                } else if (s instanceof FixedWindow.State f) {
                    out.writeByte(1);
                    out.writeLong(f.windowStart());
                    out.writeLong(f.count());
                } else if (s instanceof SlidingLog.State l) {
                    out.writeByte(2);
                    out.writeInt(l.size());
                    for (int j = 0; j < l.size(); j++) {
                        out.writeLong(l.time(j));
                        out.writeLong(l.units(j));
                    }
                } else if (s instanceof SlidingWindowCounter.State c) {
                    out.writeByte(3);
                    out.writeLong(c.windowStart());
                    out.writeLong(c.previous());
                    out.writeLong(c.current());
                } else if (s instanceof TokenBucket.State t) {
                    out.writeByte(4);
                    out.writeLong(t.scaledTokens());
                    out.writeLong(t.last());
                } else if (s instanceof Gcra.State g) {
                    out.writeByte(5);
                    out.writeLong(g.tat());
                    out.writeLong(g.fraction());
                }
            }
            out.flush();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The state {@link #encode} wrote.
     *
     * @throws IllegalArgumentException if the bytes are not such an encoding
     */
    public static PolicyState decode(byte[] bytes) {
        try {
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes));
            Policy policy = parse(in.readUTF());
            @Nullable LimitState[] limits = new LimitState[policy.size()];
            for (int i = 0; i < limits.length; i++) {
                int tag = in.readByte();
                if (tag != 0 && tag != tag(policy.limit(i).algorithm())) {
                    throw new IllegalArgumentException("state tag " + tag + " for a " + policy.limit(i));
                }
                limits[i] = switch (tag) {
                    case 0 -> null;
                    case 1 -> new FixedWindow.State(in.readLong(), in.readLong());
                    case 2 -> {
                        int n = in.readInt();
                        if (n < 0 || n > Limit.MAX_LOG_CAPACITY || n > in.available() / 16) {
                            // A sliding log holds at most one entry per unit of capacity: never allocate for more.
                            throw new IllegalArgumentException("a sliding log of " + n + " entries");
                        }
                        long[] times = new long[n];
                        long[] units = new long[n];
                        for (int j = 0; j < n; j++) {
                            times[j] = in.readLong();
                            units[j] = in.readLong();
                        }
                        yield new SlidingLog.State(times, units);
                    }
                    case 3 -> new SlidingWindowCounter.State(in.readLong(), in.readLong(), in.readLong());
                    case 4 -> new TokenBucket.State(in.readLong(), in.readLong());
                    case 5 -> new Gcra.State(in.readLong(), in.readLong());
                    default -> throw new IllegalArgumentException("unknown limit state tag " + tag);
                };
            }
            if (in.available() != 0) {
                throw new IllegalArgumentException(in.available() + " bytes after the state");
            }
            return new PolicyState(policy, limits);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("not a policy state encoding", e);
        }
    }

    /** The tag {@link #encode} writes before a state of a limit of {@code a}. */
    private static int tag(Algorithm a) {
        return switch (a) {
            case FIXED_WINDOW -> 1;
            case SLIDING_LOG -> 2;
            case SLIDING_WINDOW_COUNTER -> 3;
            case TOKEN_BUCKET -> 4;
            case GCRA -> 5;
        };
    }

    private static char code(Algorithm a) {
        return switch (a) {
            case FIXED_WINDOW -> 'F';
            case SLIDING_LOG -> 'L';
            case SLIDING_WINDOW_COUNTER -> 'C';
            case TOKEN_BUCKET -> 'T';
            case GCRA -> 'G';
        };
    }

    private static Algorithm algorithm(String code) {
        return switch (code) {
            case "F" -> Algorithm.FIXED_WINDOW;
            case "L" -> Algorithm.SLIDING_LOG;
            case "C" -> Algorithm.SLIDING_WINDOW_COUNTER;
            case "T" -> Algorithm.TOKEN_BUCKET;
            case "G" -> Algorithm.GCRA;
            default -> throw new IllegalArgumentException("unknown algorithm code " + code);
        };
    }
}

package dev.sluice.testkit;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Limit;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.Policy;
import dev.sluice.api.spi.LimiterBackend;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * The differential test: random operation sequences from a seeded {@link Random}, replayed on the
 * {@link ReferenceBackend} and on a backend under test with one manual clock. Every decision must be identical. A
 * failure reports its seed and the shortest failing sequence found (the prefix up to the first difference, then
 * operations removed one by one while it still fails), so it can be replayed with {@link #replay}.
 */
public final class Differential {

    /** What an operation does. */
    public enum Kind {
        /** Acquire a cost on a key. */
        ACQUIRE,
        /** Refund a cost on a key. */
        REFUND,
        /** Move time forward by {@code micros}. */
        ADVANCE,
        /** Move time forward to the last denial's retry moment plus {@code micros} (which may be -1). */
        ADVANCE_TO_RETRY,
        /** Move time back by {@code micros} (a wall clock stepping back). */
        CLOCK_BACK,
        /** Switch every key to policy number {@code policy}. */
        SWITCH_POLICY,
        /** Let the backend do its housekeeping (eviction of idle keys and the like). */
        HOUSEKEEPING
    }

    /** One operation. Costs are by policy-independent units, clipped to what the current policy can ever grant. */
    public record Op(Kind kind, String key, long requests, long tokens, long micros, int policy) {
        @Override
        public String toString() {
            return switch (kind) {
                case ACQUIRE, REFUND -> kind + " " + key + " requests=" + requests + " tokens=" + tokens;
                case ADVANCE, CLOCK_BACK, ADVANCE_TO_RETRY -> kind + " " + micros + "µs";
                case SWITCH_POLICY -> kind + " " + policy;
                case HOUSEKEEPING -> kind.toString();
            };
        }
    }

    /** A generated scenario: the policies it switches between and its operations. */
    public record Scenario(long seed, List<Policy> policies, List<Op> ops) {
    }

    /** A difference between the reference and the backend. */
    public record Mismatch(int index, Op op, String expected, String actual) {
    }

    private static final String[] KEYS = {"k1", "k2", "k3", "{tenant}:k4", "k5"};

    private Differential() {
    }

    /**
     * A random scenario of {@code length} operations from {@code seed}, using only {@code algorithms}; with
     * {@code clockSteps}, time sometimes steps back (leave it out for backends that forget keys at rest: a forgotten
     * key cannot be remembered when time later steps back before its rest).
     */
    public static Scenario generate(long seed, int length, List<Algorithm> algorithms, boolean clockSteps) {
        Random r = new Random(seed);
        List<Policy> policies = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            policies.add(randomPolicy(r, algorithms));
        }
        List<Op> ops = new ArrayList<>();
        for (int i = 0; i < length; i++) {
            int dice = r.nextInt(100);
            String key = KEYS[r.nextInt(KEYS.length)];
            long requests = r.nextInt(4);
            long tokens = r.nextInt(3) == 0 ? 0 : 1 + r.nextInt(r.nextBoolean() ? 20 : 400);
            if (dice < 55) {
                ops.add(new Op(Kind.ACQUIRE, key, requests, tokens, 0, 0));
            } else if (dice < 63) {
                ops.add(new Op(Kind.REFUND, key, requests, tokens, 0, 0));
            } else if (dice < 78) {
                long micros = switch (r.nextInt(4)) {
                    case 0 -> 1 + r.nextInt(1000);
                    case 1 -> 1 + r.nextInt(1_000_000);
                    case 2 -> r.nextInt(30) * 500_000L;
                    default -> 1 + (long) r.nextInt(120_000_000);
                };
                ops.add(new Op(Kind.ADVANCE, key, 0, 0, micros, 0));
            } else if (dice < 92) {
                ops.add(new Op(Kind.ADVANCE_TO_RETRY, key, 0, 0, r.nextInt(3) - 1, 0));
            } else if (dice < 94) {
                if (!clockSteps) {
                    continue;
                }
                ops.add(new Op(Kind.CLOCK_BACK, key, 0, 0, 1 + r.nextInt(50_000), 0));
            } else if (dice < 97) {
                ops.add(new Op(Kind.SWITCH_POLICY, key, 0, 0, 0, r.nextInt(policies.size())));
            } else {
                ops.add(new Op(Kind.HOUSEKEEPING, key, 0, 0, 0, 0));
            }
        }
        return new Scenario(seed, List.copyOf(policies), ops);
    }

    private static Policy randomPolicy(Random r, List<Algorithm> algorithms) {
        List<Limit> limits = new ArrayList<>();
        int n = 1 + r.nextInt(3);
        for (int i = 0; i < n; i++) {
            String dim = r.nextBoolean() ? "requests" : "tokens";
            long capacity = dim.equals("requests") ? 1 + r.nextInt(12) : 1 + r.nextInt(1000);
            long[] periods = {1_000, 250_000, 1_000_000, 3_000_000, 10_000_000, 60_000_000, 7_000_001};
            Duration period = Duration.ofNanos(periods[r.nextInt(periods.length)] * 1000);
            Algorithm a = algorithms.get(r.nextInt(algorithms.size()));
            Limit l = Limit.of(dim, capacity, period, a);
            if (a.hasBurst() && r.nextInt(3) > 0) {
                l = l.withBurst(1 + r.nextInt((int) Math.min(2 * capacity, 2000)));
            }
            if (!limits.contains(l)) {
                limits.add(l);
            }
        }
        Policy p = Policy.of(limits);
        return r.nextInt(10) == 0 ? p.withShadow(true) : p;
    }

    /**
     * Replays {@code scenario}; returns the first difference, or null if every decision matched.
     *
     * @param backends builds the backend under test on the scenario's clock
     * @param housekeeping what {@link Kind#HOUSEKEEPING} does to the backend under test
     */
    public static @Nullable Mismatch replay(Scenario scenario, Function<ManualTicker, LimiterBackend> backends,
            Consumer<LimiterBackend> housekeeping) {
        ManualTicker ticker = new ManualTicker(1_000_000_000L + (scenario.seed() & 0xFFFFF));
        ReferenceBackend reference = new ReferenceBackend(ticker);
        try (LimiterBackend backend = backends.apply(ticker)) {
            Policy policy = scenario.policies().get(0);
            long retryAt = ticker.nowMicros();
            List<Op> ops = scenario.ops();
            for (int i = 0; i < ops.size(); i++) {
                Op op = ops.get(i);
                switch (op.kind()) {
                    case ADVANCE -> ticker.advanceMicros(op.micros());
                    case ADVANCE_TO_RETRY -> {
                        long target = retryAt + op.micros();
                        if (target > ticker.nowMicros()) {
                            ticker.set(target);
                        }
                    }
                    case CLOCK_BACK -> ticker.set(ticker.nowMicros() - op.micros());
                    case SWITCH_POLICY -> policy = scenario.policies().get(op.policy());
                    case HOUSEKEEPING -> housekeeping.accept(backend);
                    case ACQUIRE, REFUND -> {
                        Cost cost = cost(policy, op);
                        if (cost == null) {
                            continue;
                        }
                        boolean acquire = op.kind() == Kind.ACQUIRE;
                        Decision expected = acquire
                                ? reference.acquire(op.key(), policy, cost)
                                : reference.refund(op.key(), policy, cost);
                        String a;
                        try {
                            a = describe(acquire
                                    ? backend.acquire(op.key(), policy, cost)
                                    : backend.refund(op.key(), policy, cost));
                        } catch (RuntimeException thrown) { // a difference too: reported with its seed, shrunk
                            a = "threw " + thrown;
                        }
                        String e = describe(expected);
                        if (!e.equals(a)) {
                            return new Mismatch(i, op, e, a);
                        }
                        if (!expected.granted()) {
                            retryAt = ticker.nowMicros() + expected.retryAfterMicros();
                        }
                    }
                }
            }
        }
        return null;
    }

    /** The cost of {@code op} under {@code policy}: its units clipped to each dimension's largest cost, or null. */
    static @Nullable Cost cost(Policy policy, Op op) {
        Cost cost = null;
        for (String dim : policy.dimensions()) {
            long units = dim.equals("requests") ? op.requests() : op.tokens();
            long max = Long.MAX_VALUE;
            for (Limit l : policy.limits()) {
                if (l.dimension().equals(dim)) {
                    max = Math.min(max, l.maxCost());
                }
            }
            units = Math.min(units, max);
            if (units > 0) {
                cost = cost == null ? Cost.of(dim, units) : cost.and(dim, units);
            }
        }
        return cost;
    }

    /** A decision as a comparable string: outcome, wait, remaining per limit, bound limit. */
    public static String describe(Decision d) {
        long[] remaining = new long[d.policy().size()];
        for (int i = 0; i < remaining.length; i++) {
            remaining[i] = d.remaining(i);
        }
        return d.reason() + " granted=" + d.granted() + " retryAfter=" + d.retryAfterMicros() + "µs remaining="
                + Arrays.toString(remaining) + " bound=" + d.boundIndex();
    }

    /**
     * The shortest failing variant of a failing scenario: its prefix up to the first difference, then with single
     * operations removed while it still fails (at most {@code budget} replays).
     */
    public static Scenario shrink(Scenario failing, Mismatch first, Function<ManualTicker, LimiterBackend> backends,
            Consumer<LimiterBackend> housekeeping, int budget) {
        List<Op> ops = new ArrayList<>(failing.ops().subList(0, first.index() + 1));
        int replays = 0;
        for (int i = ops.size() - 2; i >= 0 && replays < budget; i--) {
            List<Op> shorter = new ArrayList<>(ops);
            shorter.remove(i);
            replays++;
            if (replay(new Scenario(failing.seed(), failing.policies(), shorter), backends, housekeeping) != null) {
                ops = shorter;
            }
        }
        return new Scenario(failing.seed(), failing.policies(), ops);
    }

    /** A report of a failure: seed, policies, the shrunk operations and the difference. */
    public static String report(Scenario shrunk, @Nullable Mismatch mismatch) {
        StringBuilder sb = new StringBuilder();
        sb.append("differential test failed for seed ").append(shrunk.seed())
                .append(" (replay: Differential.generate(seed, ...); -Dsluice.differential.seed=").append(shrunk.seed())
                .append(" runs it first)\npolicies:\n");
        for (int i = 0; i < shrunk.policies().size(); i++) {
            sb.append("  ").append(i).append(": ").append(shrunk.policies().get(i)).append('\n');
        }
        sb.append("shortest failing sequence (").append(shrunk.ops().size()).append(" ops):\n");
        for (Op op : shrunk.ops()) {
            sb.append("  ").append(op).append('\n');
        }
        if (mismatch != null) {
            sb.append("at op ").append(mismatch.index()).append(" (").append(mismatch.op()).append(")\n  expected ")
                    .append(mismatch.expected()).append("\n  actual   ").append(mismatch.actual()).append('\n');
        }
        return sb.toString();
    }
}

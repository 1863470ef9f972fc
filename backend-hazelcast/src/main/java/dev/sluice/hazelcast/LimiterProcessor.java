package dev.sluice.hazelcast;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;
import dev.sluice.core.engine.PolicyCodec;
import dev.sluice.core.engine.PolicyEngine;
import dev.sluice.core.engine.PolicyState;
import java.io.IOException;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Applies a batch of acquires and refunds, in order, to one key's state on the partition owner, with the reference
 * {@link PolicyEngine}: the requests that queued up for the key while its previous call was in flight (one request
 * when the key is quiet). The state is read once, stored once as {@link PolicyCodec} bytes with a TTL that ends one
 * second after it comes to rest (a minute under an explicit test time). Backups do not recompute: they receive the
 * bytes the owner wrote ({@link #getBackupProcessor()}). Members need this class and limiter-core on their classpath.
 *
 * <p>Returns, per request in order: {granted, reason ordinal, retryAfterMicros, boundIndex, decidedAtMicros,
 * remaining per limit}.
 */
public final class LimiterProcessor implements EntryProcessor<String, byte[], long[]>, DataSerializable {

    private static final long serialVersionUID = 1L;
    /** Use the member's clock. */
    static final long MEMBER_CLOCK = Long.MIN_VALUE;

    private long now;
    private boolean[] acquire = new boolean[0];
    private String[] specs = new String[0];
    private String[][] dimensions = new String[0][];
    private long[][] units = new long[0][];
    private transient @Nullable BackupWrite<long[]> backup;

    /** For Hazelcast's deserialization only. */
    public LimiterProcessor() {
    }

    /** Request {@code i}: an acquire if {@code acquire[i]}, else a refund, of {@code costs[i]} under {@code specs[i]}. */
    LimiterProcessor(boolean[] acquire, String[] specs, Cost[] costs, long now) {
        int n = acquire.length;
        if (specs.length != n || costs.length != n || n == 0) {
            throw new IllegalArgumentException("a batch needs 1 or more requests, each with its spec and cost");
        }
        this.acquire = acquire;
        this.specs = specs;
        this.dimensions = new String[n][];
        this.units = new long[n][];
        for (int j = 0; j < n; j++) {
            Cost cost = costs[j];
            dimensions[j] = new String[cost.size()];
            units[j] = new long[cost.size()];
            for (int i = 0; i < cost.size(); i++) {
                dimensions[j][i] = cost.dimension(i);
                units[j][i] = cost.units(i);
            }
        }
        this.now = now;
    }

    @Override
    public long[] process(Map.Entry<String, byte[]> entry) {
        long at = now == MEMBER_CLOCK ? System.currentTimeMillis() * 1000L : now;
        byte[] stored = entry.getValue();
        PolicyState initial = stored == null ? null : PolicyCodec.decode(stored);
        PolicyState state = initial;
        String lastSpec = null;
        Policy policy = null;
        long[][] answers = new long[acquire.length][];
        int size = 0;
        for (int j = 0; j < acquire.length; j++) {
            if (!specs[j].equals(lastSpec)) {
                lastSpec = specs[j];
                policy = PolicyCodec.parse(lastSpec);
            }
            Cost cost = Cost.of(dimensions[j][0], units[j][0]);
            for (int i = 1; i < dimensions[j].length; i++) {
                cost = cost.and(dimensions[j][i], units[j][i]);
            }
            PolicyEngine.Result r = acquire[j] ? PolicyEngine.acquire(policy, state, cost, at)
                    : PolicyEngine.refund(policy, state, cost, at);
            state = r.state();
            answers[j] = encode(r.decision(), at);
            size += answers[j].length;
        }
        if (state != initial || stored == null) {
            long rest = PolicyEngine.restAt(state);
            if (state == null || rest <= at) {
                backup = BackupWrite.write(entry, null, 0);
            } else {
                byte[] bytes = PolicyCodec.encode(state);
                // One second past the rest on the member's clock; a minute under an explicit time (tests, whose
                // manual clock may stand still while real seconds pass), so an entry never expires mid-sequence.
                long ttlMillis = (rest - at + 999) / 1000 + (now == MEMBER_CLOCK ? 1000 : 60_000);
                backup = BackupWrite.write(entry, bytes, ttlMillis);
            }
        }
        if (answers.length == 1) {
            return answers[0];
        }
        long[] out = new long[size];
        int at0 = 0;
        for (long[] a1 : answers) {
            System.arraycopy(a1, 0, out, at0, a1.length);
            at0 += a1.length;
        }
        return out;
    }

    @Override
    public @Nullable EntryProcessor<String, byte[], long[]> getBackupProcessor() {
        return backup;
    }

    /** Compact wire form (Hazelcast's DataSerializable): no Java serialization on the partition threads. */
    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeLong(now);
        out.writeInt(acquire.length);
        for (int j = 0; j < acquire.length; j++) {
            out.writeBoolean(acquire[j]);
            out.writeString(specs[j]);
            out.writeInt(dimensions[j].length);
            for (int i = 0; i < dimensions[j].length; i++) {
                out.writeString(dimensions[j][i]);
                out.writeLong(units[j][i]);
            }
        }
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        now = in.readLong();
        int n = in.readInt();
        acquire = new boolean[n];
        specs = new String[n];
        dimensions = new String[n][];
        units = new long[n][];
        for (int j = 0; j < n; j++) {
            acquire[j] = in.readBoolean();
            specs[j] = in.readString();
            int m = in.readInt();
            dimensions[j] = new String[m];
            units[j] = new long[m];
            for (int i = 0; i < m; i++) {
                dimensions[j][i] = in.readString();
                units[j][i] = in.readLong();
            }
        }
    }

    /** {granted, reason ordinal, retryAfterMicros, boundIndex, decidedAtMicros, remaining...} */
    private static long[] encode(Decision d, long at) {
        int n = d.policy().size();
        long[] out = new long[5 + n];
        out[0] = d.granted() ? 1 : 0;
        out[1] = d.reason().ordinal();
        out[2] = d.retryAfterMicros();
        out[3] = d.boundIndex();
        out[4] = at;
        for (int i = 0; i < n; i++) {
            out[5 + i] = d.remaining(i);
        }
        return out;
    }
}

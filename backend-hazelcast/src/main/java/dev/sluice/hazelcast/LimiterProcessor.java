package dev.sluice.hazelcast;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import com.hazelcast.map.ExtendedMapEntry;
import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;
import dev.sluice.core.engine.PolicyCodec;
import dev.sluice.core.engine.PolicyEngine;
import dev.sluice.core.engine.PolicyState;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * Applies one acquire or refund to one key's state on the partition owner, with the reference
 * {@link PolicyEngine}. The state is stored as {@link PolicyCodec} bytes with a TTL that ends one second after it
 * comes to rest (a minute under an explicit test time). Backups do not recompute: they receive the bytes the owner wrote ({@link #getBackupProcessor()}).
 * Members need this class and limiter-core on their classpath.
 */
public final class LimiterProcessor implements EntryProcessor<String, byte[], long[]>, DataSerializable {

    private static final long serialVersionUID = 1L;
    /** Use the member's clock. */
    static final long MEMBER_CLOCK = Long.MIN_VALUE;

    private boolean acquire;
    private String spec = "";
    private String[] dimensions = new String[0];
    private long[] units = new long[0];
    private long now;
    private transient @Nullable BackupWrite backup;

    /** For Hazelcast's deserialization only. */
    public LimiterProcessor() {
    }

    LimiterProcessor(boolean acquire, String spec, Cost cost, long now) {
        this.acquire = acquire;
        this.spec = spec;
        this.dimensions = new String[cost.size()];
        this.units = new long[cost.size()];
        for (int i = 0; i < cost.size(); i++) {
            dimensions[i] = cost.dimension(i);
            units[i] = cost.units(i);
        }
        this.now = now;
    }

    @Override
    public long[] process(Map.Entry<String, byte[]> entry) {
        long at = now == MEMBER_CLOCK ? System.currentTimeMillis() * 1000L : now;
        Policy policy = PolicyCodec.parse(spec);
        Cost cost = Cost.of(dimensions[0], units[0]);
        for (int i = 1; i < dimensions.length; i++) {
            cost = cost.and(dimensions[i], units[i]);
        }
        byte[] stored = entry.getValue();
        PolicyState state = stored == null ? null : PolicyCodec.decode(stored);
        PolicyEngine.Result r = acquire ? PolicyEngine.acquire(policy, state, cost, at)
                : PolicyEngine.refund(policy, state, cost, at);
        if (r.state() != state || stored == null) {
            PolicyState next = r.state();
            long rest = PolicyEngine.restAt(next);
            if (next == null || rest <= at) {
                entry.setValue(null);
                backup = new BackupWrite(null, 0);
            } else {
                byte[] bytes = PolicyCodec.encode(next);
                // One second past the rest on the member's clock; a minute under an explicit time (tests, whose
                // manual clock may stand still while real seconds pass), so an entry never expires mid-sequence.
                long ttlMillis = (rest - at + 999) / 1000 + (now == MEMBER_CLOCK ? 1000 : 60_000);
                ((ExtendedMapEntry<String, byte[]>) entry).setValue(bytes, ttlMillis, TimeUnit.MILLISECONDS);
                backup = new BackupWrite(bytes, ttlMillis);
            }
        }
        return encode(r.decision(), at);
    }

    @Override
    public @Nullable EntryProcessor<String, byte[], long[]> getBackupProcessor() {
        return backup;
    }

    /** Compact wire form (Hazelcast's DataSerializable): no Java serialization on the partition threads. */
    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeBoolean(acquire);
        out.writeString(spec);
        out.writeLong(now);
        out.writeInt(dimensions.length);
        for (int i = 0; i < dimensions.length; i++) {
            out.writeString(dimensions[i]);
            out.writeLong(units[i]);
        }
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        acquire = in.readBoolean();
        spec = in.readString();
        now = in.readLong();
        int n = in.readInt();
        dimensions = new String[n];
        units = new long[n];
        for (int i = 0; i < n; i++) {
            dimensions[i] = in.readString();
            units[i] = in.readLong();
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

    /** What a backup replica does: write the owner's bytes (or remove the entry), never recompute. */
    public static final class BackupWrite implements EntryProcessor<String, byte[], long[]>, DataSerializable {
        private static final long serialVersionUID = 1L;
        private byte @Nullable [] bytes;
        private long ttlMillis;

        /** For Hazelcast's deserialization only. */
        public BackupWrite() {
        }

        BackupWrite(byte @Nullable [] bytes, long ttlMillis) {
            this.bytes = bytes;
            this.ttlMillis = ttlMillis;
        }

        @Override
        public void writeData(ObjectDataOutput out) throws IOException {
            out.writeByteArray(bytes);
            out.writeLong(ttlMillis);
        }

        @Override
        public void readData(ObjectDataInput in) throws IOException {
            bytes = in.readByteArray();
            ttlMillis = in.readLong();
        }

        @Override
        public long @Nullable [] process(Map.Entry<String, byte[]> entry) {
            if (bytes == null) {
                entry.setValue(null);
            } else {
                ((ExtendedMapEntry<String, byte[]>) entry).setValue(bytes, ttlMillis, TimeUnit.MILLISECONDS);
            }
            return null;
        }

        @Override
        public @Nullable EntryProcessor<String, byte[], long[]> getBackupProcessor() {
            return null;
        }
    }
}

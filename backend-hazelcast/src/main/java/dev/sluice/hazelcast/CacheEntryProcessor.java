package dev.sluice.hazelcast;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import java.io.IOException;
import java.util.Arrays;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A conditional write of one {@link HazelcastCacheStore} entry, atomic on the partition owner: what {@code IMap} has
 * no method (or no asynchronous method) for, run through {@code executeOnKey} or {@code submitToKey}. An expired
 * entry is absent here as everywhere in the map. Backups do not recompute: they receive the owner's write
 * ({@link #getBackupProcessor()}). Members need this class on their classpath.
 */
public final class CacheEntryProcessor implements EntryProcessor<String, byte[], Boolean>, DataSerializable {

    private static final long serialVersionUID = 1L;
    static final int PUT_IF_ABSENT = 0;
    static final int REMOVE_IF_EQUALS = 1;
    static final int RENEW_IF_EQUALS = 2;

    private int op;
    private byte[] value = new byte[0];
    private long ttlMillis;
    private transient @Nullable BackupWrite<Boolean> backup;

    /** For Hazelcast's deserialization only. */
    public CacheEntryProcessor() {
    }

    /** {@code value} is the value to put, or the one expected; {@code ttlMillis} is unused by a removal. */
    CacheEntryProcessor(int op, byte[] value, long ttlMillis) {
        this.op = op;
        this.value = value;
        this.ttlMillis = ttlMillis;
    }

    /** Whether this call wrote (put, removed or renewed) the entry. */
    @Override
    public Boolean process(Map.Entry<String, byte[]> entry) {
        byte[] current = entry.getValue();
        if (op == PUT_IF_ABSENT) {
            if (current != null) {
                return false;
            }
            backup = BackupWrite.write(entry, value, ttlMillis);
            return true;
        }
        if (op == REMOVE_IF_EQUALS) {
            if (current == null || !Arrays.equals(current, value)) {
                return false;
            }
            backup = BackupWrite.write(entry, null, 0);
            return true;
        }
        if (op == RENEW_IF_EQUALS) {
            if (current == null || !Arrays.equals(current, value)) {
                return false;
            }
            backup = BackupWrite.write(entry, current, ttlMillis);
            return true;
        }
        throw new IllegalStateException("unknown cache entry operation " + op);
    }

    @Override
    public @Nullable EntryProcessor<String, byte[], Boolean> getBackupProcessor() {
        return backup;
    }

    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeInt(op);
        out.writeByteArray(value);
        out.writeLong(ttlMillis);
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        op = in.readInt();
        byte[] v = in.readByteArray();
        value = v == null ? new byte[0] : v;
        ttlMillis = in.readLong();
    }
}

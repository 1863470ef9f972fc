package dev.sluice.hazelcast;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.map.ExtendedMapEntry;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * What a backup replica does for Sluice's entry processors ({@link LimiterProcessor}, {@link CacheEntryProcessor}):
 * write the bytes the owner wrote with their time to live, or remove the entry; it never recomputes.
 *
 * @param <R> the result type of the owner's processor (a backup's result is never read)
 */
public final class BackupWrite<R> implements EntryProcessor<String, byte[], R>, DataSerializable {
    private static final long serialVersionUID = 1L;
    private byte @Nullable [] bytes;
    private long ttlMillis;

    /** For Hazelcast's deserialization only. */
    public BackupWrite() {
    }

    /** Writes {@code bytes} with {@code ttlMillis}, or removes the entry if {@code bytes} is null. */
    BackupWrite(byte @Nullable [] bytes, long ttlMillis) {
        this.bytes = bytes;
        this.ttlMillis = ttlMillis;
    }

    /**
     * Makes the owner's write on {@code entry}, {@code bytes} with {@code ttlMillis} or a removal if {@code bytes} is
     * null, and returns the processor that makes the same write on the backups.
     */
    static <R> BackupWrite<R> write(Map.Entry<String, byte[]> entry, byte @Nullable [] bytes, long ttlMillis) {
        BackupWrite<R> w = new BackupWrite<>(bytes, ttlMillis);
        w.process(entry);
        return w;
    }

    @Override
    public @Nullable R process(Map.Entry<String, byte[]> entry) {
        if (bytes == null) {
            entry.setValue(null);
        } else {
            ((ExtendedMapEntry<String, byte[]>) entry).setValue(bytes, ttlMillis, TimeUnit.MILLISECONDS);
        }
        return null;
    }

    @Override
    public @Nullable EntryProcessor<String, byte[], R> getBackupProcessor() {
        return null;
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
}

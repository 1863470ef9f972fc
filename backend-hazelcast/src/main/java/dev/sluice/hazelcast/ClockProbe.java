package dev.sluice.hazelcast;

import com.hazelcast.core.ReadOnly;
import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Reads the time on a partition owner's clock, in microseconds, touching no entry (read-only: no lock, no backup):
 * how a {@link HazelcastJobQueue} handle learns the members' time. Members need this class on their classpath.
 */
public final class ClockProbe implements EntryProcessor<String, QueuedJob, Long>, ReadOnly, DataSerializable {
    private static final long serialVersionUID = 1L;

    @Override
    public Long process(Map.Entry<String, QueuedJob> entry) {
        return System.currentTimeMillis() * 1000L;
    }

    @Override
    public @Nullable EntryProcessor<String, QueuedJob, Long> getBackupProcessor() {
        return null;
    }

    @Override
    public void writeData(ObjectDataOutput out) {
    }

    @Override
    public void readData(ObjectDataInput in) {
    }
}

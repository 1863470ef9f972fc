package dev.sluice.hazelcast;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import java.io.IOException;
import java.util.Map;

/**
 * One state change of one queued job, atomic on the partition owner and replayed on the backups. It is
 * deterministic there: the token comes with it, and the time either comes with it (an explicit ticker) or is read
 * on the owner's clock once and then sent with the backup. Members need this class on their classpath.
 */
public final class QueueProcessor implements EntryProcessor<String, QueuedJob, Object>, DataSerializable {

    static final int CLAIM = 0;
    static final int ACK = 1;
    static final int RELEASE = 2;
    static final int EXTEND = 3;
    static final int CANCEL = 4;
    static final int PUBLISH = 5;
    static final int DROP_DEAD = 6;

    /** Read the time on the partition owner's clock. */
    static final long MEMBER_CLOCK = Long.MIN_VALUE;

    private int op;
    private long now;
    private long leaseMicros;
    private int maxDeliveries;
    private String token = "";

    /** For Hazelcast's deserialization only. */
    public QueueProcessor() {
    }

    QueueProcessor(int op, long now, long leaseMicros, int maxDeliveries, String token) {
        this.op = op;
        this.now = now;
        this.leaseMicros = leaseMicros;
        this.maxDeliveries = maxDeliveries;
        this.token = token;
    }

    /**
     * Claim: the job leased; the owner's time (a {@link Long}) if it was not visible yet; null if it is gone or dead;
     * or {@link Boolean#FALSE} if it was dead-lettered now.
     */
    @Override
    public Object process(Map.Entry<String, QueuedJob> entry) {
        if (now == MEMBER_CLOCK) {
            // this instance is also the backup processor (sent after this call): the backups replay the same time
            now = System.currentTimeMillis() * 1000L;
        }
        QueuedJob j = entry.getValue();
        if (op == DROP_DEAD) {
            if (j == null || j.getState() != QueuedJob.DEAD) {
                return Boolean.FALSE;
            }
            entry.setValue(null);
            return Boolean.TRUE;
        }
        if (j == null || j.getState() == QueuedJob.DEAD) {
            return op == CLAIM ? null : Boolean.FALSE;
        }
        switch (op) {
            case CLAIM -> {
                if (j.getVisibleAt() > now) {
                    return now; // the claimer's clock is ahead: it learns the owner's
                }
                if (j.deliveries() >= maxDeliveries) {
                    j.kill();
                    entry.setValue(j);
                    return Boolean.FALSE;
                }
                j.lease(now + leaseMicros, token + "/" + (j.deliveries() + 1));
                entry.setValue(j);
                return j;
            }
            case PUBLISH -> {
                if (j.getState() != QueuedJob.HIDDEN) {
                    return Boolean.FALSE;
                }
                j.publish();
                // drops the hidden job's time to live (a plain setValue takes the map's, none; hiddenLeftoversExpire)
                entry.setValue(j);
                return Boolean.TRUE;
            }
            case CANCEL -> {
                if (j.getState() != QueuedJob.WAITING) {
                    return Boolean.FALSE;
                }
                entry.setValue(null);
                return Boolean.TRUE;
            }
            default -> {
                // held until taken again (a new token) or dead-lettered, even past its end, as on the other queues
                if (j.getState() != QueuedJob.LEASED || !token.equals(j.token())) {
                    return Boolean.FALSE;
                }
                if (op == ACK) {
                    entry.setValue(null);
                } else if (op == RELEASE) {
                    j.giveBack();
                    entry.setValue(j);
                } else {
                    j.extend(now + leaseMicros);
                    entry.setValue(j);
                }
                return Boolean.TRUE;
            }
        }
    }

    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeInt(op);
        out.writeLong(now);
        out.writeLong(leaseMicros);
        out.writeInt(maxDeliveries);
        out.writeString(token);
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        op = in.readInt();
        now = in.readLong();
        leaseMicros = in.readLong();
        maxDeliveries = in.readInt();
        token = in.readString();
    }
}

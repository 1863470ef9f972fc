package dev.sluice.hazelcast;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import dev.sluice.api.queue.Job;
import dev.sluice.api.queue.Priority;
import java.io.IOException;
import org.jspecify.annotations.Nullable;

/**
 * One job of a {@link HazelcastJobQueue} as stored in its map. Its visibility is a time: waiting jobs are visible
 * always (from time 0, so a handle whose clock lags sees them at once), leased ones from the end of their lease, dead
 * ones and hidden ones (written, their idempotency key not yet claimed) never. The getters are the query attributes.
 * Members need this class on their classpath.
 */
public final class QueuedJob implements DataSerializable {

    static final int WAITING = 0;
    static final int LEASED = 1;
    static final int DEAD = 2;
    static final int HIDDEN = 3;

    private String lane = "";
    private int priority;
    private String tenant = "";
    private byte[] payload = new byte[0];
    private long deadline;
    private @Nullable String idempotencyKey;
    private long enqueuedAt;
    private int deliveries;
    private int state;
    private long visibleAt;
    private @Nullable String token;

    /** For Hazelcast's deserialization only. */
    public QueuedJob() {
    }

    QueuedJob(Priority priority, String tenant, byte[] payload, long deadline, @Nullable String idempotencyKey,
            long enqueuedAt) {
        this.lane = lane(priority, tenant);
        this.priority = priority.ordinal();
        this.tenant = tenant;
        this.payload = payload;
        this.deadline = deadline;
        this.idempotencyKey = idempotencyKey;
        this.enqueuedAt = enqueuedAt;
        this.visibleAt = 0;
    }

    static String lane(Priority priority, String tenant) {
        return priority.ordinal() + ":" + tenant;
    }

    /** The lane, {@code <priority ordinal>:<tenant>}. */
    public String getLane() {
        return lane;
    }

    /** The priority ordinal. */
    public int getPriority() {
        return priority;
    }

    /** The tenant. */
    public String getTenant() {
        return tenant;
    }

    /** 0 waiting, 1 leased, 2 dead-lettered, 3 hidden. */
    public int getState() {
        return state;
    }

    /** From when the job may be taken; {@link Long#MAX_VALUE} once dead. */
    public long getVisibleAt() {
        return visibleAt;
    }

    int deliveries() {
        return deliveries;
    }

    @Nullable String token() {
        return token;
    }

    /** Written but not enqueued yet: invisible, uncounted, until {@link #publish}. */
    QueuedJob hide() {
        state = HIDDEN;
        visibleAt = Long.MAX_VALUE;
        return this;
    }

    void publish() {
        state = WAITING;
        visibleAt = 0;
    }

    void lease(long until, String newToken) {
        deliveries++;
        state = LEASED;
        visibleAt = until;
        token = newToken;
    }

    void extend(long until) {
        visibleAt = until;
    }

    void giveBack() {
        state = WAITING;
        visibleAt = 0;
        token = null;
    }

    void kill() {
        state = DEAD;
        visibleAt = Long.MAX_VALUE;
        token = null;
    }

    Job job(String id) {
        return new Job(id, payload, tenant, Priority.values()[priority], deadline, idempotencyKey, enqueuedAt,
                deliveries);
    }

    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeString(lane);
        out.writeInt(priority);
        out.writeString(tenant);
        out.writeByteArray(payload);
        out.writeLong(deadline);
        out.writeString(idempotencyKey);
        out.writeLong(enqueuedAt);
        out.writeInt(deliveries);
        out.writeInt(state);
        out.writeLong(visibleAt);
        out.writeString(token);
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        lane = in.readString();
        priority = in.readInt();
        tenant = in.readString();
        payload = in.readByteArray();
        deadline = in.readLong();
        idempotencyKey = in.readString();
        enqueuedAt = in.readLong();
        deliveries = in.readInt();
        state = in.readInt();
        visibleAt = in.readLong();
        token = in.readString();
    }
}

package dev.sluice.hazelcast;

import com.hazelcast.core.HazelcastInstance;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.testkit.LimiterCompatibilityKit;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The compatibility kit, differential test included, on a real 3-member Hazelcast cluster in this JVM: the entry
 * processors run the reference engine itself, so every decision must match. Backends use the first member.
 */
class HazelcastLimiterCompatibilityTest extends LimiterCompatibilityKit {

    private static final AtomicInteger MAPS = new AtomicInteger();
    private static List<HazelcastInstance> members;

    @BeforeAll
    static void startCluster() {
        members = Members.start(3);
    }

    @AfterAll
    static void stopCluster() {
        members.forEach(HazelcastInstance::shutdown);
    }

    @Override
    protected LimiterBackend createBackend(ManualTicker ticker) {
        return HazelcastBackend.builder(members.get(MAPS.get() % 3)).mapName("kit-" + MAPS.incrementAndGet())
                .ticker(ticker).timeout(Duration.ofSeconds(10)).build();
    }

    /** An entry at rest is removed at once (and would expire anyway). */
    @Override
    protected boolean forgetsIdleKeys() {
        return true;
    }

    @Override
    protected int differentialSequences() {
        return 200;
    }
}

package dev.sluice.hazelcast;

import com.hazelcast.core.HazelcastInstance;
import dev.sluice.api.ManualTicker;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.testkit.CacheCompatibilityKit;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The cache kit on a real 2-member Hazelcast cluster in this JVM, each test on its own map through a member chosen in
 * turn. Members keep their own time, so expiry is checked in real time.
 */
class HazelcastCacheCompatibilityTest extends CacheCompatibilityKit {

    private static final AtomicInteger MAPS = new AtomicInteger();
    private static List<HazelcastInstance> members;

    @BeforeAll
    static void startCluster() {
        members = Members.start(2);
    }

    @AfterAll
    static void stopCluster() {
        members.forEach(HazelcastInstance::shutdown);
    }

    @Override
    protected CacheStore createStore(ManualTicker ticker) {
        int n = MAPS.incrementAndGet();
        return HazelcastCacheStore.builder(members.get(n % 2)).mapName("cache-" + n).build();
    }
}

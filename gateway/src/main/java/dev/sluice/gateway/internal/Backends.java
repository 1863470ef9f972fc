package dev.sluice.gateway.internal;

import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.core.HazelcastInstance;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.core.FailurePolicy;
import dev.sluice.core.OutageDecisions;
import dev.sluice.gateway.GatewayConfig;
import dev.sluice.hazelcast.HazelcastBackend;
import dev.sluice.hazelcast.HazelcastCacheStore;
import dev.sluice.memory.MemoryBackend;
import dev.sluice.memory.MemoryCacheStore;
import dev.sluice.redis.RedisBackend;
import dev.sluice.redis.RedisCacheStore;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.redisson.Redisson;
import org.redisson.api.RedissonClient;
import org.redisson.config.Config;

/**
 * The limiter backend, cache store and readiness probe that one {@link GatewayConfig.Backend} names, and what must be
 * closed with them. The only class that knows the backend modules; the rest of the gateway sees the SPIs.
 *
 * @param limiter limiter state
 * @param cache response cache and shared cooldowns
 * @param blocking whether limiter calls block on the network (then they never run on an event loop)
 * @param probe answers whether the backend answers now
 * @param closer releases the backend and its clients
 */
public record Backends(LimiterBackend limiter, CacheStore cache, boolean blocking,
        Supplier<CompletionStage<Boolean>> probe, Runnable closer) {

    /** Builds them; for Redis and Hazelcast this connects. */
    public static Backends of(GatewayConfig config) {
        GatewayConfig.Backend b = config.backend();
        return switch (b.type()) {
            case MEMORY -> {
                MemoryBackend m = MemoryBackend.create();
                MemoryCacheStore c = MemoryCacheStore.builder().maximumEntries(config.cache().maxEntries()).build();
                yield new Backends(m, c, false, () -> CompletableFuture.completedFuture(true), () -> {
                    m.close();
                    c.close();
                });
            }
            case REDIS -> {
                Config rc = new Config();
                var single = rc.useSingleServer().setAddress(b.redisAddress())
                        .setTimeout((int) Math.max(100, b.timeout().toMillis()));
                if (b.redisPassword() != null) {
                    single.setPassword(b.redisPassword());
                }
                RedissonClient client = Redisson.create(rc);
                RedisBackend rb = RedisBackend.builder(client).namespace(b.namespace()).timeout(b.timeout())
                        .failurePolicy(FailurePolicy.valueOf(b.failurePolicy())).build();
                RedisCacheStore cs = RedisCacheStore.builder(client).namespace(b.namespace() + ":cache").build();
                Supplier<CompletionStage<Boolean>> probe = () -> client.getBucket(b.namespace() + ":health")
                        .isExistsAsync().toCompletableFuture().orTimeout(1, TimeUnit.SECONDS)
                        .handle((v, e) -> e == null);
                yield new Backends(rb, cs, true, probe, () -> {
                    rb.close();
                    client.shutdown();
                });
            }
            case HAZELCAST -> {
                ClientConfig cc = new ClientConfig();
                cc.setClusterName(b.hazelcastCluster());
                for (String a : b.hazelcastAddresses()) {
                    cc.getNetworkConfig().addAddress(a);
                }
                HazelcastInstance hz = HazelcastClient.newHazelcastClient(cc);
                OutageDecisions outage = b.failurePolicy().equals("FAIL_OPEN") ? OutageDecisions.failOpen()
                        : OutageDecisions.failClosed(1_000_000);
                HazelcastBackend hb = HazelcastBackend.builder(hz).mapName(b.namespace()).timeout(b.timeout())
                        .outage(outage).build();
                HazelcastCacheStore cs = HazelcastCacheStore.builder(hz).mapName(b.namespace() + "-cache").build();
                Supplier<CompletionStage<Boolean>> probe = () -> CompletableFuture.completedFuture(
                        hz.getLifecycleService().isRunning() && !hz.getCluster().getMembers().isEmpty());
                yield new Backends(hb, cs, true, probe, () -> {
                    hb.close();
                    hz.shutdown();
                });
            }
        };
    }
}

package dev.sluice.gateway.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Cost;
import dev.sluice.core.SluiceLimiter;
import dev.sluice.gateway.GatewayConfigParser;
import dev.sluice.governor.SharedCooldowns;
import dev.sluice.memory.MemoryBackend;
import java.time.Duration;
import java.util.Objects;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** Admission and settlement on a real in-memory limiter. */
class AdmissionTest {

    @Test
    @DisplayName("A call admitted with no tokens reserved is still charged the tokens it reports using")
    void chargesUsageWithoutReservation() throws Exception {
        Routes routes = routes("{requestsPerMinute: 100, tokensPerMinute: 1000}");
        SluiceLimiter limiter = limiter(routes);
        Admission admission = new Admission(limiter, Runnable::run, new SharedCooldowns(null));
        Routes.ModelRoute m = Objects.requireNonNull(routes.model("m"));
        Admission.Ticket t = Objects.requireNonNull(admission.admit(Objects.requireNonNull(routes.authenticate(null)),
                m, 0, Duration.ofSeconds(1), 10).get().ticket());

        admission.settle(t, 600, true);

        String key = m.keys().get(0).limiterKey();
        assertThat(limiter.tryAcquire(key, Cost.tokens(401)).granted()).isFalse();
        assertThat(limiter.tryAcquire(key, Cost.tokens(400)).granted()).isTrue();
    }

    @Test
    @DisplayName("A call of no tokens under a policy of tokens only is charged one token to pass the limiter, and "
            + "settled with none used it gets it back")
    void theTokenOfACallOfNoneComesBack() throws Exception {
        Routes routes = routes("{tokensPerMinute: 10}");
        SluiceLimiter limiter = limiter(routes);
        Admission admission = new Admission(limiter, Runnable::run, new SharedCooldowns(null));
        Routes.ModelRoute m = Objects.requireNonNull(routes.model("m"));
        Admission.Ticket t = Objects.requireNonNull(admission.admit(Objects.requireNonNull(routes.authenticate(null)),
                m, 0, Duration.ofSeconds(1), 10).get().ticket());
        String key = m.keys().get(0).limiterKey();
        assertThat(limiter.tryAcquire(key, Cost.tokens(10)).granted()).as("one token taken").isFalse();

        admission.settle(t, 0, true);

        assertThat(limiter.tryAcquire(key, Cost.tokens(10)).granted()).as("all 10 back").isTrue();
    }

    @Test
    @DisplayName("maxWaitingPerTenant counts calls that wait for quota, not calls still being admitted: with 2 places,"
            + " 5 calls with room all pass, and once the key is spent 2 wait and the next is refused queue_full")
    void placesCountOnlyWaitingCalls() throws Exception {
        Routes routes = routes("{requestsPerMinute: 5}");
        SluiceLimiter limiter = limiter(routes);
        // admissions queue up on a pool, as on a network backend, before any has run
        java.util.List<Runnable> pool = new java.util.concurrent.CopyOnWriteArrayList<>();
        Admission admission = new Admission(limiter, pool::add, new SharedCooldowns(null));
        Routes.ModelRoute m = Objects.requireNonNull(routes.model("m"));
        Routes.TenantRoute open = Objects.requireNonNull(routes.authenticate(null));
        java.util.List<java.util.concurrent.CompletableFuture<Admission.Outcome>> calls = new java.util.ArrayList<>();
        for (int i = 0; i < 5; i++) {
            calls.add(admission.admit(open, m, 0, Duration.ofMinutes(2), 2));
        }
        runAll(pool);
        assertThat(calls).allSatisfy(c -> assertThat(c.get().ticket()).as("granted").isNotNull());

        java.util.List<java.util.concurrent.CompletableFuture<Admission.Outcome>> more = new java.util.ArrayList<>();
        for (int i = 0; i < 3; i++) {
            more.add(admission.admit(open, m, 0, Duration.ofMinutes(2), 2));
            runAll(pool);
        }
        assertThat(more.get(0)).as("waiting").isNotDone();
        assertThat(more.get(1)).as("waiting").isNotDone();
        assertThat(more.get(2).get().refusal()).isNotNull()
                .satisfies(r -> assertThat(r.scope()).isEqualTo(Admission.Scope.QUEUE_FULL));
        more.get(0).cancel(false); // one leaves: its place frees
        java.util.concurrent.CompletableFuture<Admission.Outcome> again = admission.admit(open, m, 0,
                Duration.ofMinutes(2), 2);
        runAll(pool);
        assertThat(again).as("waiting in the freed place").isNotDone();
        more.forEach(c -> c.cancel(false));
        again.cancel(false);
    }

    private static void runAll(java.util.List<Runnable> pool) {
        while (!pool.isEmpty()) {
            pool.remove(0).run();
        }
    }

    /** One provider of one key with {@code limits} (YAML), serving model {@code m}; open mode. */
    private static Routes routes(String limits) {
        return new Routes(GatewayConfigParser.create().parse("""
                providers:
                  p:
                    baseUrl: http://127.0.0.1:9/v1
                    keys: [{id: k, value: sk-p}]
                    limits: %s
                models:
                  m: {}
                """.formatted(limits)));
    }

    private static SluiceLimiter limiter(Routes routes) {
        return SluiceLimiter.builder(MemoryBackend.create()).policies(routes::policy).build();
    }
}

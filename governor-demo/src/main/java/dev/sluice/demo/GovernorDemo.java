package dev.sluice.demo;

import dev.sluice.governor.ChatRequest;
import dev.sluice.governor.GovernedResponse;
import dev.sluice.governor.Governor;
import dev.sluice.governor.GovernorStats;
import dev.sluice.governor.OpenAiHttpUpstream;
import dev.sluice.governor.ProviderKey;
import dev.sluice.governor.ProviderProfiles;
import dev.sluice.governor.UpstreamResponse;
import dev.sluice.memory.MemoryBackend;
import dev.sluice.testkit.simulator.ProviderSimulator;
import dev.sluice.testkit.simulator.SimulatorLimits;
import dev.sluice.testkit.simulator.SimulatorStats;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Starts the strict provider simulator (per-second limits, so that a run takes seconds), then runs the same load
 * twice: clients calling it directly, and the same clients through governors sharing one limiter backend. Prints
 * what each run did: calls, tokens, 429s, retries, waits.
 *
 * <p>Run: {@code ./mvnw -B -q package -pl governor-demo -am -DskipTests && java -jar
 * governor-demo/target/governor-demo.jar [--clients 3] [--threads 4] [--seconds 10] [--rps 10] [--tps 8000]}.
 */
public final class GovernorDemo {

    private static final String MODEL = "gpt-4o-mini";
    private static final String[] WORDS = {"river", "gate", "quota", "token", "window", "stone", "flow", "limit"};

    private GovernorDemo() {
    }

    /** Runs the demo; see the class comment for the options. */
    public static void main(String[] args) throws Exception {
        Map<String, String> o = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            o.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        int clients = Integer.parseInt(o.getOrDefault("clients", "3"));
        int threads = Integer.parseInt(o.getOrDefault("threads", "4"));
        int seconds = Integer.parseInt(o.getOrDefault("seconds", "10"));
        long rps = Long.parseLong(o.getOrDefault("rps", "10"));
        long tps = Long.parseLong(o.getOrDefault("tps", "8000"));
        SimulatorLimits limits = new SimulatorLimits(rps, tps, Duration.ofSeconds(1), 0, Duration.ofDays(1), 0);
        try (ProviderSimulator sim = ProviderSimulator.builder().limits(limits).latency(Duration.ofMillis(30))
                .start()) {
            System.out.printf(Locale.ROOT, "Provider simulator on %s: %d requests and %d tokens per second (exact"
                    + " sliding windows), 30 ms per answer%n", sim.baseUrl(), rps, tps);
            System.out.printf(Locale.ROOT, "%d clients x %d threads, %d s per run%n%n", clients, threads, seconds);
            HttpClient http = HttpClient.newHttpClient();
            OpenAiHttpUpstream upstream = new OpenAiHttpUpstream(http, sim.baseUrl(), Duration.ofSeconds(30));

            // 1. Without the governor: every thread calls as fast as it can; a 429 is simply counted.
            AtomicLong direct429 = new AtomicLong();
            AtomicLong directOk = new AtomicLong();
            load(clients * threads, seconds, (rnd, id) -> {
                UpstreamResponse r = upstream.send(new dev.sluice.governor.Attempt(request(rnd, id),
                        ProviderKey.of("sim", "sk-demo"), 1)).toCompletableFuture().get();
                (r.status() == 429 ? direct429 : directOk).incrementAndGet();
            });
            SimulatorStats s1 = sim.stats();
            System.out.println("Without the governor:");
            System.out.printf(Locale.ROOT, "  calls %d: %d answered, %d refused with 429 (%.0f%%)%n",
                    s1.requests(), s1.admitted(), s1.rejected429(), 100.0 * s1.rejected429() / Math.max(1,
                            s1.requests()));
            System.out.printf(Locale.ROOT, "  tokens used %d (%.0f per second)%n%n", s1.totalTokens(),
                    s1.totalTokens() / (double) seconds);

            TimeUnit.MILLISECONDS.sleep(1100); // let the windows empty
            sim.reset();

            // 2. With a governor per client, all on one backend (Redis or Hazelcast across processes; memory here).
            ProviderProfiles profiles = ProviderProfiles.fromYaml(String.format(Locale.ROOT, """
                    providers:
                      sim:
                        source: the provider simulator
                        dialect: openai
                        encoding: o200k_base
                        window: 1s
                        guard: 50ms
                        spread: 2
                        models:
                          gpt-4o-mini: {rpm: %d, tpm: %d}
                    """, rps, tps));
            MemoryBackend backend = MemoryBackend.create();
            List<Governor> governors = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                governors.add(Governor.builder(backend).name("client-" + c).profiles(profiles)
                        .pool(MODEL, ProviderKey.of("sim", "sk-demo"))
                        .maxWait(Duration.ofSeconds(30)).build());
            }
            load(clients * threads, seconds, (rnd, id) -> {
                Governor g = governors.get(id % clients);
                GovernedResponse r = g.callAsync(request(rnd, id), upstream).get(60, TimeUnit.SECONDS);
                if (r.response().status() != 200) {
                    throw new IllegalStateException("status " + r.response().status());
                }
            });
            SimulatorStats s2 = sim.stats();
            System.out.println("With the governor:");
            System.out.printf(Locale.ROOT, "  provider saw %d calls: %d answered, %d refused with 429%n",
                    s2.requests(), s2.admitted(), s2.rejected429());
            for (Governor g : governors) {
                GovernorStats st = g.stats();
                System.out.printf(Locale.ROOT, "  %-9s calls %3d, attempts %3d, 429s %2d, tokens reserved %6d /"
                                + " used %6d (refunded %6d), waited %5.1f s in all (%.2f s per call)%n",
                        g.name(), st.calls(), st.attempts(), st.rateLimited(), st.tokensReserved(),
                        st.tokensActual(), st.tokensRefunded(), st.waited().toMillis() / 1000.0,
                        st.waited().toMillis() / 1000.0 / Math.max(1, st.calls()));
                g.close();
            }
            System.out.printf(Locale.ROOT, "  %.1f answered calls per second (the provider allows %d)%n",
                    s2.admitted() / (double) seconds, rps);
        }
    }

    private interface Work {
        void call(Random rnd, int id) throws Exception;
    }

    private static void load(int threads, int seconds, Work work) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int id = t;
            Thread th = new Thread(() -> {
                Random rnd = new Random(id);
                for (int i = 0; i < 100_000 && System.nanoTime() < deadline; i++) {
                    try {
                        work.call(rnd, id);
                    } catch (Exception e) {
                        System.err.println("call failed: " + e);
                    }
                }
            });
            ts.add(th);
            th.start();
        }
        for (Thread th : ts) {
            th.join();
        }
    }

    private static ChatRequest request(Random rnd, int id) {
        StringBuilder prompt = new StringBuilder("client " + id + ":");
        int words = 20 + rnd.nextInt(400);
        for (int i = 0; i < words; i++) {
            prompt.append(' ').append(WORDS[rnd.nextInt(WORDS.length)]);
        }
        return ChatRequest.fromOpenAiJson("{\"model\":\"" + MODEL + "\",\"max_tokens\":" + (32 + rnd.nextInt(200))
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}]}");
    }
}

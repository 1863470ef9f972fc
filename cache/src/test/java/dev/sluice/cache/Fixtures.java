package dev.sluice.cache;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** Requests, answers and a counting upstream for the cache's tests. */
final class Fixtures {

    static final String BASE = "https://api.example.com/v1";

    private Fixtures() {
    }

    static CacheRequest chat(String credential, String prompt, double temperature) {
        return CacheRequest.builder().credential(credential).baseUrl(BASE)
                .body("{\"model\":\"gpt-4o-mini\",\"temperature\":" + temperature
                        + ",\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}]}")
                .build();
    }

    static CacheRequest chat(String prompt) {
        return chat("sk-test-key", prompt, 0);
    }

    static LlmResponse answer(String text) {
        return answer(text, "stop");
    }

    static LlmResponse answer(String text, String finishReason) {
        return LlmResponse.json(200, "{\"id\":\"c1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"" + text + "\"},\"finish_reason\":\""
                + finishReason + "\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}");
    }

    /** An upstream that counts its calls and answers {@code response} after {@code delayMillis}. */
    static final class CountingUpstream implements Upstream {
        final AtomicInteger calls = new AtomicInteger();
        private final LlmResponse response;
        private final long delayMillis;

        CountingUpstream(LlmResponse response, long delayMillis) {
            this.response = response;
            this.delayMillis = delayMillis;
        }

        @Override
        public LlmResponse call() throws InterruptedException {
            calls.incrementAndGet();
            if (delayMillis > 0) {
                Thread.sleep(delayMillis); // the provider's latency, not a wait for time to pass in the test
            }
            return response;
        }

        /** The same upstream, answering without blocking. */
        AsyncUpstream async() {
            return () -> {
                calls.incrementAndGet();
                return CompletableFuture.supplyAsync(() -> response,
                        CompletableFuture.delayedExecutor(delayMillis, TimeUnit.MILLISECONDS));
            };
        }
    }

    /** Runs {@code task(i)} for i in [0, n) on n threads released together; the answers in order. */
    static <T> List<T> concurrently(int n, IndexedTask<T> task) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(n);
        CyclicBarrier start = new CyclicBarrier(n);
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int index = i;
                futures.add(pool.submit(() -> {
                    start.await(30, TimeUnit.SECONDS);
                    return task.run(index);
                }));
            }
            List<T> results = new ArrayList<>();
            for (Future<T> f : futures) {
                results.add(f.get(60, TimeUnit.SECONDS));
            }
            return results;
        } finally {
            pool.shutdownNow();
        }
    }

    @FunctionalInterface
    interface IndexedTask<T> {
        T run(int index) throws Exception;
    }
}

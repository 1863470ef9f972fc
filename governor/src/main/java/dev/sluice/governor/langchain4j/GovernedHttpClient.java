package dev.sluice.governor.langchain4j;

import dev.langchain4j.exception.HttpException;
import dev.langchain4j.http.client.HttpClient;
import dev.langchain4j.http.client.HttpMethod;
import dev.langchain4j.http.client.HttpRequest;
import dev.langchain4j.http.client.SuccessfulHttpResponse;
import dev.langchain4j.http.client.sse.ServerSentEventListener;
import dev.langchain4j.http.client.sse.ServerSentEventParser;
import dev.sluice.governor.Attempt;
import dev.sluice.governor.ChatRequest;
import dev.sluice.governor.GovernedResponse;
import dev.sluice.governor.Governor;
import dev.sluice.governor.UpstreamResponse;
import dev.sluice.governor.Usage;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * langchain4j's {@link HttpClient}, governed: a {@code POST .../chat/completions} goes through the
 * {@link Governor} (reserve, send, settle, cooldowns, retries, key pools); any other request is sent as it is. The
 * attempt's key replaces the request's {@code Authorization}, and a key with a base URL replaces the URL's base, so
 * the governor's pool decides which key serves each call.
 *
 * <p>A non-2xx final answer surfaces as langchain4j's {@link HttpException} (status and body), after the governor
 * has read its headers. A streamed answer is streamed through: langchain4j's parser reads it as it arrives, and its
 * listener gets each event as the provider sends it; the call settles on the stream's final usage chunk once it ends,
 * and the listener's {@code onClose} follows the settlement. Only an answer that failed before its first byte (a
 * non-2xx status, a refused connection) is retried; a stream that breaks after it began is reported to the listener
 * ({@code onError}) and settled as reserved, never sent again.
 */
public final class GovernedHttpClient implements HttpClient {

    private static final Set<String> RESTRICTED = Set.of("host", "content-length", "connection", "expect",
            "upgrade", "authorization");

    /**
     * Reads streamed answers: each stream blocks one of these daemon threads for its length (idle ones end after a
     * minute), not a thread of the common pool, where {@code sendAsync}'s stages run.
     */
    private static final java.util.concurrent.ExecutorService READERS = java.util.concurrent.Executors
            .newCachedThreadPool(r -> {
                Thread t = new Thread(r, "sluice-langchain4j-stream");
                t.setDaemon(true);
                return t;
            });

    private final Governor governor;
    private final java.net.http.HttpClient http;
    private final Duration readTimeout;

    GovernedHttpClient(Governor governor, Duration connectTimeout, Duration readTimeout) {
        this.governor = governor;
        this.readTimeout = readTimeout;
        this.http = java.net.http.HttpClient.newBuilder().connectTimeout(connectTimeout).build();
    }

    @Override
    public SuccessfulHttpResponse execute(HttpRequest request) throws HttpException {
        try {
            return executeAsync(request).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while calling " + request.url(), e);
        } catch (ExecutionException e) {
            throw rethrow(e.getCause());
        }
    }

    @Override
    public void execute(HttpRequest request, ServerSentEventParser parser, ServerSentEventListener listener) {
        Stream stream = new Stream(parser, listener);
        ChatRequest chat = governedChat(request);
        CompletableFuture<UpstreamResponse> done = chat == null ? stream(request, request.url(), null, stream)
                : governor.callAsync(chat, attempt -> stream(request, url(request, attempt), attempt.key().secret(),
                        stream)).thenApply(GovernedResponse::response);
        done.whenComplete((r, e) -> {
            Throwable error = e;
            if (error == null && !r.successful()) {
                error = new HttpException(r.status(), r.body() == null ? "" : r.body());
            }
            if (error != null) {
                stream.error(error instanceof CompletionException && error.getCause() != null
                        ? error.getCause() : error);
            } else {
                stream.close();
            }
        });
    }

    private CompletableFuture<SuccessfulHttpResponse> executeAsync(HttpRequest request) {
        ChatRequest chat = governedChat(request);
        if (chat == null) {
            return send(request, request.url(), null).thenApply(GovernedHttpClient::successOrThrow);
        }
        return governor.callAsync(chat, attempt -> send(request, url(request, attempt), attempt.key().secret()))
                .thenApply(GovernedResponse::response)
                .thenApply(GovernedHttpClient::successOrThrow);
    }

    /** The chat call {@code request} makes, if the governor governs it; else null (sent as it is). */
    private static @Nullable ChatRequest governedChat(HttpRequest request) {
        boolean chat = request.method() == HttpMethod.POST && request.url().contains("/chat/completions")
                && request.body() != null;
        if (!chat) {
            return null;
        }
        try {
            return ChatRequest.fromOpenAiJson(request.body());
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** The URL an attempt goes to: the request's, with the attempt key's base URL if it has one. */
    private static String url(HttpRequest request, Attempt attempt) {
        String url = request.url();
        String base = attempt.key().baseUrl();
        if (base != null) {
            int at = url.indexOf("/chat/completions");
            url = base.replaceAll("/+$", "") + url.substring(at);
        }
        return url;
    }

    private CompletableFuture<UpstreamResponse> send(HttpRequest request, String url, @Nullable String apiKey) {
        return exchange(request, url, apiKey, HttpResponse.BodyHandlers.ofString())
                .thenApply(r -> UpstreamResponse.of(r.statusCode(), r.headers().map(), r.body()));
    }

    /** Sends {@code request} to {@code url} with {@code apiKey}; a request the JDK client refuses fails the future. */
    private <T> CompletableFuture<HttpResponse<T>> exchange(HttpRequest request, String url, @Nullable String apiKey,
            HttpResponse.BodyHandler<T> body) {
        try {
            return http.sendAsync(httpRequest(request, url, apiKey), body);
        } catch (IllegalArgumentException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * One attempt of a streamed call: a 2xx answer is handed to the parser as it arrives (the listener opened first)
     * and becomes an answer of the last usage chunk once it ends; any other is read whole, for the governor to retry
     * or return. Cancelling the attempt (the governor closing) closes the stream.
     */
    private CompletableFuture<UpstreamResponse> stream(HttpRequest request, String url, @Nullable String apiKey,
            Stream stream) {
        CompletableFuture<HttpResponse<InputStream>> sent = exchange(request, url, apiKey,
                HttpResponse.BodyHandlers.ofInputStream());
        CompletableFuture<UpstreamResponse> attempt = sent.thenApplyAsync(stream::read, READERS);
        attempt.whenComplete((r, e) -> {
            if (attempt.isCancelled()) {
                // before the answer: the exchange is cancelled; after it began: its stream is closed
                sent.cancel(true);
                sent.thenAccept(answer -> closeQuietly(answer.body()));
            }
        });
        return attempt;
    }

    private static void closeQuietly(@Nullable InputStream in) {
        if (in != null) {
            try {
                in.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
    }

    /**
     * A streamed call's parser and listener. The listener hears of the call's end once ({@code onError} or
     * {@code onClose}, whether the parser or the call's end tells it), and its exceptions stay its own.
     */
    private static final class Stream {
        private static final Pattern USAGE = Pattern.compile("\"usage\"\\s*:\\s*\\{");
        final ServerSentEventParser parser;
        final ServerSentEventListener listener;
        private final java.util.concurrent.atomic.AtomicBoolean ended =
                new java.util.concurrent.atomic.AtomicBoolean();
        /** What the parser calls: the listener, its end told once. */
        private final ServerSentEventListener guarded;

        Stream(ServerSentEventParser parser, ServerSentEventListener listener) {
            this.parser = parser;
            this.listener = listener;
            this.guarded = new ServerSentEventListener() {
                @Override
                public void onOpen(SuccessfulHttpResponse response) {
                    quietly(() -> listener.onOpen(response));
                }

                @Override
                public void onEvent(dev.langchain4j.http.client.sse.ServerSentEvent event,
                        dev.langchain4j.http.client.sse.ServerSentEventContext context) {
                    listener.onEvent(event, context);
                }

                @Override
                public void onEvent(dev.langchain4j.http.client.sse.ServerSentEvent event) {
                    listener.onEvent(event);
                }

                @Override
                public void onError(Throwable error) {
                    error(error);
                }

                @Override
                public void onClose() {
                    // the call's end closes, once settled
                }
            };
        }

        /** Tells the listener the call failed, unless it was told of its end already. */
        void error(Throwable e) {
            if (ended.compareAndSet(false, true)) {
                quietly(() -> listener.onError(e));
            }
        }

        /** Tells the listener the call ended, unless it was told already (of a failure). */
        void close() {
            if (ended.compareAndSet(false, true)) {
                quietly(listener::onClose);
            }
        }

        private static void quietly(Runnable call) {
            try {
                call.run();
            } catch (RuntimeException e) {
                // the listener's own failure: nothing the call can do about it
            }
        }

        /** Reads one attempt's answer (on a reader thread, which the reading blocks). */
        UpstreamResponse read(HttpResponse<InputStream> r) {
            Map<String, List<String>> headers = r.headers().map();
            if (r.statusCode() < 200 || r.statusCode() >= 300) {
                try (InputStream in = r.body()) {
                    return UpstreamResponse.of(r.statusCode(), headers,
                            new String(in.readAllBytes(), StandardCharsets.UTF_8));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
            UsageLine usage = new UsageLine(r.body());
            try (usage) {
                guarded.onOpen(SuccessfulHttpResponse.builder().statusCode(r.statusCode()).headers(headers)
                        .build());
                parser.parse(usage, guarded);
            } catch (IOException | RuntimeException e) {
                // after the answer began: told to the listener, settled as reserved, never retried
                error(e);
            }
            return UpstreamResponse.of(r.statusCode(), headers, usage.last());
        }

        /**
         * The stream as it is read, keeping the last {@code data:} line whose event carries a usage at its top level
         * ({@link Usage#fromBody} finds it): all the governor needs to settle, however long the stream. Lines end at
         * LF, CR or CRLF, as SSE allows; a line longer than {@link #MAX_LINE} bytes is not kept (a usage event is a
         * few hundred), so a stream costs at most that much memory here.
         */
        private static final class UsageLine extends FilterInputStream {
            static final int MAX_LINE = 1 << 20;
            private final ByteArrayOutputStream line = new ByteArrayOutputStream();
            private boolean tooLong;
            private @Nullable String last;

            UsageLine(InputStream in) {
                super(in);
            }

            @Override
            public int read() throws IOException {
                int b = super.read();
                if (b >= 0) {
                    take((byte) b);
                }
                return b;
            }

            @Override
            public int read(byte[] buf, int off, int len) throws IOException {
                int n = super.read(buf, off, len);
                for (int i = 0; i < n; i++) {
                    take(buf[off + i]);
                }
                return n;
            }

            private void take(byte b) {
                if (b == '\n' || b == '\r') {
                    String l = usageLine();
                    if (l != null) {
                        last = l;
                    }
                    line.reset();
                    tooLong = false;
                } else if (line.size() < MAX_LINE) {
                    line.write(b);
                } else {
                    tooLong = true;
                }
            }

            /** The line read so far if it is a {@code data:} line whose event carries a usage; else null. */
            private @Nullable String usageLine() {
                if (tooLong || line.size() < 5) {
                    return null;
                }
                String l = line.toString(StandardCharsets.UTF_8);
                return l.startsWith("data:") && USAGE.matcher(l).find() && Usage.fromBody(l) != null ? l : null;
            }

            /** The last usage line read, with the line not ended yet if it is one; null if none. */
            @Nullable String last() {
                String pending = usageLine();
                return pending != null ? pending : last;
            }
        }
    }

    /** The JDK request for {@code request}, to {@code url}, with {@code apiKey} (null: the request's own). */
    private java.net.http.HttpRequest httpRequest(HttpRequest request, String url, @Nullable String apiKey) {
        java.net.http.HttpRequest.Builder b = java.net.http.HttpRequest.newBuilder(URI.create(url))
                .timeout(readTimeout);
        for (Map.Entry<String, List<String>> h : request.headers().entrySet()) {
            if (h.getKey() == null || RESTRICTED.contains(h.getKey().toLowerCase(Locale.ROOT))) {
                continue;
            }
            for (String v : h.getValue()) {
                b.header(h.getKey(), v);
            }
        }
        if (apiKey != null) {
            b.header("Authorization", "Bearer " + apiKey);
        } else {
            for (Map.Entry<String, List<String>> h : request.headers().entrySet()) {
                if (h.getKey() != null && h.getKey().equalsIgnoreCase("authorization")) {
                    h.getValue().forEach(v -> b.header("Authorization", v));
                }
            }
        }
        String body = request.body() == null ? "" : request.body();
        switch (request.method()) {
            case GET -> b.GET();
            case DELETE -> b.DELETE();
            default -> b.POST(java.net.http.HttpRequest.BodyPublishers.ofString(body));
        }
        return b.build();
    }

    private static SuccessfulHttpResponse successOrThrow(UpstreamResponse r) {
        if (!r.successful()) {
            throw new HttpException(r.status(), r.body() == null ? "" : r.body());
        }
        return SuccessfulHttpResponse.builder()
                .statusCode(r.status())
                .headers(r.headers())
                .body(r.body() == null ? "" : r.body())
                .build();
    }

    private static RuntimeException rethrow(Throwable e) {
        Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
        return c instanceof RuntimeException re ? re : new IllegalStateException(c);
    }
}

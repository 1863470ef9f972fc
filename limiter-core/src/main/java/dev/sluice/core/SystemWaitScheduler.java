package dev.sluice.core;

import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Real time. One daemon timer thread keeps every async waiter's moment; at that moment the retry is handed to a shared
 * pool of daemon threads, so a retry that blocks (a remote backend's round trip, a stalled store, a caller's callback
 * run by {@code complete}) never delays another waiter's timer or retry.
 */
final class SystemWaitScheduler implements WaitScheduler {

    /** Threads that may run retries at once; idle ones end after {@link #IDLE_SECONDS}. */
    static final int RETRY_THREADS = Math.max(8, 2 * Runtime.getRuntime().availableProcessors());
    private static final long IDLE_SECONDS = 30;

    /** Declared after the sizes it is built with. */
    static final SystemWaitScheduler INSTANCE = new SystemWaitScheduler();

    private final ScheduledThreadPoolExecutor timer;
    private final ThreadPoolExecutor retries;

    private SystemWaitScheduler() {
        timer = new ScheduledThreadPoolExecutor(1, daemons("sluice-wait-scheduler"));
        timer.setRemoveOnCancelPolicy(true);
        retries = new ThreadPoolExecutor(RETRY_THREADS, RETRY_THREADS, IDLE_SECONDS, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), daemons("sluice-async-retry"));
        retries.allowCoreThreadTimeOut(true);
    }

    @Override
    public long nowMicros() {
        return System.nanoTime() / 1000;
    }

    @Override
    public void sleepMicros(long micros) throws InterruptedException {
        TimeUnit.MICROSECONDS.sleep(micros);
    }

    @Override
    public Future<?> schedule(Runnable task, long micros) {
        return timer.schedule(() -> retries.execute(task), micros, TimeUnit.MICROSECONDS);
    }

    private static ThreadFactory daemons(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }
}

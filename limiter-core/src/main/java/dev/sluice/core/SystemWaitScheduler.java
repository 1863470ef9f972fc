package dev.sluice.core;

import java.util.concurrent.Future;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/** One daemon thread schedules every async retry of every limiter; the retries themselves are short. */
final class SystemWaitScheduler implements WaitScheduler {

    static final SystemWaitScheduler INSTANCE = new SystemWaitScheduler();

    private final ScheduledThreadPoolExecutor executor;

    private SystemWaitScheduler() {
        executor = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "sluice-wait-scheduler");
            t.setDaemon(true);
            return t;
        });
        executor.setRemoveOnCancelPolicy(true);
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
        return executor.schedule(task, micros, TimeUnit.MICROSECONDS);
    }
}

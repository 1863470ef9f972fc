package dev.sluice.core;

import java.util.concurrent.Future;

/**
 * Where waiting happens: a blocking acquire sleeps through it, an async acquire schedules its retry on it. It exists
 * so that tests can replace real time with a manual clock and never sleep.
 */
public interface WaitScheduler {

    /** The scheduler's clock in microseconds, for deadlines. */
    long nowMicros();

    /** Sleeps for {@code micros} microseconds. */
    void sleepMicros(long micros) throws InterruptedException;

    /** Runs {@code task} once after {@code micros} microseconds; the future cancels it. */
    Future<?> schedule(Runnable task, long micros);

    /**
     * Real time: {@link Thread#sleep}, one shared daemon timer thread for every async waiter, and a shared pool of
     * daemon threads that runs each retry when its moment comes, so a slow retry holds up no other waiter.
     */
    static WaitScheduler system() {
        return SystemWaitScheduler.INSTANCE;
    }
}

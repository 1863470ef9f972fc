package dev.sluice.testkit;

import dev.sluice.api.ManualTicker;
import dev.sluice.core.WaitScheduler;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.Delayed;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A {@link WaitScheduler} on a {@link ManualTicker}: a sleep advances the ticker by exactly its length, a scheduled
 * task runs when {@link #advance} moves time past its moment, on the advancing thread. Records every sleep, so tests
 * can check that a wait slept once, for exactly the predicted time.
 */
public final class ManualScheduler implements WaitScheduler {

    private final ManualTicker ticker;
    private final PriorityQueue<Task> queue = new PriorityQueue<>();
    private final List<Long> sleeps = Collections.synchronizedList(new ArrayList<>());
    private long sequence;

    /** A scheduler moving {@code ticker}. */
    public ManualScheduler(ManualTicker ticker) {
        this.ticker = ticker;
    }

    @Override
    public long nowMicros() {
        return ticker.nowMicros();
    }

    @Override
    public void sleepMicros(long micros) throws InterruptedException {
        if (Thread.interrupted()) {
            throw new InterruptedException();
        }
        sleeps.add(micros);
        advanceMicros(micros);
    }

    @Override
    public synchronized ScheduledFuture<?> schedule(Runnable task, long micros) {
        Task t = new Task(task, ticker.nowMicros() + micros, sequence++);
        queue.add(t);
        return t;
    }

    /** Moves time forward by {@code d}, running every task that falls due, in order, at its own moment. */
    public void advance(Duration d) {
        advanceMicros(d.toNanos() / 1000);
    }

    /** Moves time forward by {@code micros}; see {@link #advance}. */
    public void advanceMicros(long micros) {
        long target = ticker.nowMicros() + micros;
        while (true) {
            Task next;
            synchronized (this) {
                next = queue.peek();
                if (next == null || next.at > target) {
                    break;
                }
                queue.poll();
            }
            if (next.at > ticker.nowMicros()) {
                ticker.set(next.at);
            }
            next.run();
        }
        if (target > ticker.nowMicros()) {
            ticker.set(target);
        }
    }

    /** The tasks waiting to run (cancelled ones are removed). */
    public synchronized int pending() {
        return queue.size();
    }

    /** Every sleep so far, in microseconds, in order. */
    public List<Long> sleeps() {
        synchronized (sleeps) {
            return List.copyOf(sleeps);
        }
    }

    private final class Task implements ScheduledFuture<Object>, Runnable {
        final Runnable body;
        final long at;
        final long seq;
        volatile int state; // 0 waiting, 1 done, 2 cancelled

        Task(Runnable body, long at, long seq) {
            this.body = body;
            this.at = at;
            this.seq = seq;
        }

        @Override
        public void run() {
            if (state == 0) {
                state = 1;
                body.run();
            }
        }

        @Override
        public boolean cancel(boolean mayInterrupt) {
            synchronized (ManualScheduler.this) {
                if (state != 0) {
                    return false;
                }
                state = 2;
                queue.remove(this);
                return true;
            }
        }

        @Override
        public boolean isCancelled() {
            return state == 2;
        }

        @Override
        public boolean isDone() {
            return state != 0;
        }

        @Override
        public Object get() {
            throw new UnsupportedOperationException("manual tasks have no result");
        }

        @Override
        public Object get(long timeout, TimeUnit unit) {
            throw new UnsupportedOperationException("manual tasks have no result");
        }

        @Override
        public long getDelay(TimeUnit unit) {
            return unit.convert(at - ticker.nowMicros(), TimeUnit.MICROSECONDS);
        }

        @Override
        public int compareTo(Delayed o) {
            Task t = (Task) o;
            return at != t.at ? Long.compare(at, t.at) : Long.compare(seq, t.seq);
        }
    }
}

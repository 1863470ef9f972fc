package dev.sluice.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.api.Decision;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Checks that calls whose callers gave up while a shared store stalled are not charged once it answers again: only
 * a request already sent when its caller gave up may be, at most one per caller.
 *
 * <p>Usage: stall the store, {@link #callDuringStall} from several threads with a timeout far shorter than the
 * stall, then {@link #assertChargedAtMost} with a probe on the same key.
 */
public final class StallCheck {

    private final int threads;
    private final int calls;
    private final int granted;

    private StallCheck(int threads, int calls, int granted) {
        this.threads = threads;
        this.calls = calls;
        this.granted = granted;
    }

    /**
     * Makes {@code calls} acquires (of one unit) on each of {@code threads} threads and waits for them; fails unless
     * most of them were refused, i.e. the stall outlasted them.
     */
    public static StallCheck callDuringStall(int threads, int calls, Supplier<Decision> acquire)
            throws InterruptedException {
        AtomicInteger granted = new AtomicInteger();
        List<Thread> callers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread caller = new Thread(() -> {
                for (int i = 0; i < calls; i++) {
                    if (acquire.get().granted()) {
                        granted.incrementAndGet();
                    }
                }
            });
            caller.start();
            callers.add(caller);
        }
        for (Thread caller : callers) {
            caller.join();
        }
        StallCheck check = new StallCheck(threads, calls, granted.get());
        assertThat(check.refused()).as("the stall outlasted most calls").isGreaterThan(2 * threads);
        return check;
    }

    /** How many calls were refused during the stall. */
    public int refused() {
        return threads * calls - granted;
    }

    /**
     * Probes (one unit, on the key the calls used) until the store answers, for at most 20 s, and fails if it has
     * charged more than the calls granted during the stall, plus one request per caller, on top of
     * {@code chargedBefore} units of a limit of {@code capacity}.
     */
    public void assertChargedAtMost(long capacity, long chargedBefore, Supplier<Decision> probe)
            throws InterruptedException {
        Decision d;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        do {
            TimeUnit.MILLISECONDS.sleep(50);
            d = probe.get();
        } while (d.reason() == Decision.Reason.BACKEND_UNAVAILABLE && System.nanoTime() < deadline);
        assertThat(d.granted()).as("the store answers again").isTrue();
        long charged = capacity - chargedBefore - d.remaining(0) - 1;
        assertThat(charged).as("charged for %d refused calls", refused())
                .isLessThanOrEqualTo(granted + (long) threads);
    }
}

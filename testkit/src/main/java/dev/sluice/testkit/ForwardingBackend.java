package dev.sluice.testkit;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;
import dev.sluice.api.spi.LimiterBackend;
import java.util.Objects;

/**
 * A backend that passes every call to another: tests override what they need to stall, fail or count, and leave the
 * rest to the real backend.
 */
public class ForwardingBackend implements LimiterBackend {
    private final LimiterBackend delegate;

    /** Passes every call to {@code delegate}. */
    public ForwardingBackend(LimiterBackend delegate) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
    }

    @Override
    public Decision acquire(String key, Policy policy, Cost cost) {
        return delegate.acquire(key, policy, cost);
    }

    @Override
    public Decision refund(String key, Policy policy, Cost cost) {
        return delegate.refund(key, policy, cost);
    }

    @Override
    public long liveKeys() {
        return delegate.liveKeys();
    }

    @Override
    public void close() {
        delegate.close();
    }
}

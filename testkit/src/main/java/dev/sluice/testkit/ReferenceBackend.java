package dev.sluice.testkit;

import dev.sluice.api.Cost;
import dev.sluice.api.Decision;
import dev.sluice.api.Policy;
import dev.sluice.api.Ticker;
import dev.sluice.api.spi.LimiterBackend;
import dev.sluice.core.engine.PolicyEngine;
import dev.sluice.core.engine.PolicyState;
import java.util.HashMap;
import java.util.Map;

/**
 * The reference executor: a plain map and {@link PolicyEngine}, one operation at a time under a lock, keys kept
 * forever. The simplest thing that is obviously right; the differential test compares every backend with it.
 */
public final class ReferenceBackend implements LimiterBackend {

    private final Ticker ticker;
    private final Map<String, PolicyState> states = new HashMap<>();

    /** A reference backend reading time from {@code ticker}. */
    public ReferenceBackend(Ticker ticker) {
        this.ticker = ticker;
    }

    @Override
    public synchronized Decision acquire(String key, Policy policy, Cost cost) {
        PolicyEngine.Result r = PolicyEngine.acquire(policy, states.get(key), cost, ticker.nowMicros());
        put(key, r.state());
        return r.decision();
    }

    @Override
    public synchronized Decision refund(String key, Policy policy, Cost cost) {
        PolicyEngine.Result r = PolicyEngine.refund(policy, states.get(key), cost, ticker.nowMicros());
        put(key, r.state());
        return r.decision();
    }

    private void put(String key, PolicyState state) {
        if (state == null) {
            states.remove(key);
        } else {
            states.put(key, state);
        }
    }

    @Override
    public synchronized long liveKeys() {
        return states.size();
    }

    @Override
    public synchronized void close() {
        states.clear();
    }
}

package dev.sluice.api;

import java.time.Instant;

enum SystemTicker implements Ticker {
    INSTANCE;

    private final long originMicros;
    private final long originNanos;

    SystemTicker() {
        Instant now = Instant.now();
        originNanos = System.nanoTime();
        originMicros = now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
    }

    @Override
    public long nowMicros() {
        return originMicros + (System.nanoTime() - originNanos) / 1000;
    }
}

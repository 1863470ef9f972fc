package dev.sluice.core.engine;

/**
 * The stored state of one limit of one key. Each algorithm has its own immutable state type; {@code null} stands
 * for a fresh, untouched limit.
 */
public sealed interface LimitState
        permits FixedWindow.State, SlidingLog.State, SlidingWindowCounter.State, TokenBucket.State, Gcra.State {
}

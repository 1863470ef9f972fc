package dev.sluice.memory;

import dev.sluice.api.ManualTicker;
import dev.sluice.api.cache.CacheStore;
import dev.sluice.testkit.CacheCompatibilityKit;

/** The cache kit on Caffeine, bounded by entries, expiring on the kit's manual clock. */
class MemoryCacheCompatibilityTest extends CacheCompatibilityKit {

    @Override
    protected CacheStore createStore(ManualTicker ticker) {
        return MemoryCacheStore.builder().maximumEntries(500).ticker(ticker).build();
    }

    @Override
    protected boolean expiresOnTicker() {
        return true;
    }

    @Override
    protected long maximumEntries() {
        return 500;
    }

    @Override
    protected void settle(CacheStore store) {
        ((MemoryCacheStore) store).cleanUp();
    }
}

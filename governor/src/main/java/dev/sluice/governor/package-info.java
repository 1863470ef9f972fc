/**
 * The LLM governor: keeps calls to LLM providers inside their requests, tokens, daily and concurrency limits. A call
 * reserves its estimated cost on every dimension at once, runs, then settles with the usage the provider reports;
 * a 429 puts the provider key into a cooldown every instance sharing the backend honours. Start with
 * {@link dev.sluice.governor.Governor#builder}.
 */
@NullMarked
package dev.sluice.governor;

import org.jspecify.annotations.NullMarked;

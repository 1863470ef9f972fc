package dev.sluice.governor;

import java.time.Duration;

/**
 * What one governor did since it was built: a snapshot for tests, demos and logs (the same numbers go to Micrometer,
 * see {@link GovernorMetricNames}).
 *
 * @param calls governed calls started
 * @param succeeded calls whose last answer was 2xx
 * @param failed calls that ended with a non-2xx answer or an exception
 * @param attempts attempts sent upstream
 * @param retries attempts after the first
 * @param rateLimited 429 answers seen
 * @param dailyRefusals of those, daily or billing quota refusals
 * @param tokensReserved tokens reserved (prompt estimate + max output) by sent attempts
 * @param tokensActual tokens the provider reported as used
 * @param tokensRefunded tokens given back at settlement
 * @param tokensDebt tokens charged after the fact (used more than reserved)
 * @param unsettled successful calls whose answer reported no usage (the reservation was kept)
 * @param promptEstimateError the sum of |estimated prompt − reported prompt| over settled calls
 * @param waited total time calls waited for quota, cooldowns and backoff
 * @param cooldowns cooldowns set from 429s
 * @param cooldownTime their total length
 * @param reconciled units consumed because the provider said fewer remained than Sluice thought
 * @param limitChanges times a limit learned from the provider or the adaptive mode changed a key's policy
 */
public record GovernorStats(long calls, long succeeded, long failed, long attempts, long retries, long rateLimited,
        long dailyRefusals, long tokensReserved, long tokensActual, long tokensRefunded, long tokensDebt,
        long unsettled, long promptEstimateError, Duration waited, long cooldowns, Duration cooldownTime,
        long reconciled, long limitChanges) {
}

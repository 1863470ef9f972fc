/**
 * The gateway's moving parts: request handling and relaying, admission against tenant and provider limits, token
 * estimation, the response cache, upstream cooldowns and the backend wiring. Not a public API.
 */
@NullMarked
package dev.sluice.gateway.internal;

import org.jspecify.annotations.NullMarked;

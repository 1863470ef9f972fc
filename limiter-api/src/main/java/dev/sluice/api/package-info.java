/**
 * The vocabulary of Sluice. A {@link dev.sluice.api.Limit} is a capacity per period on one named dimension
 * ({@code requests}, {@code tokens}); a {@link dev.sluice.api.Policy} groups the limits that apply to one key and is
 * acquired all or nothing; a {@link dev.sluice.api.Cost} says how many units of each dimension one call needs; a
 * {@link dev.sluice.api.Decision} answers an acquire. {@link dev.sluice.api.RateLimiter} is what applications call.
 */
@NullMarked
package dev.sluice.api;

import org.jspecify.annotations.NullMarked;

/**
 * JMH benchmarks that measure Sluice beside its peers in one run ({@code @Param} over implementations), and the
 * algorithms demo that the README's first command runs. Build with {@code ./mvnw -B -DskipTests package}; the
 * benchmarks run from {@code benchmarks/target/benchmarks.jar}.
 */
@NullMarked
package dev.sluice.benchmarks;

import org.jspecify.annotations.NullMarked;

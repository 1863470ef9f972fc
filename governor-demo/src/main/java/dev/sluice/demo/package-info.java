/**
 * A runnable demo of the LLM governor: it starts the strict provider simulator, runs several clients against it
 * first without and then with the governor, and prints calls, tokens, 429s and waits. Run it with
 * {@code ./mvnw -B -q package -pl governor-demo -am -DskipTests && java -jar governor-demo/target/governor-demo.jar}.
 */
@NullMarked
package dev.sluice.demo;

import org.jspecify.annotations.NullMarked;

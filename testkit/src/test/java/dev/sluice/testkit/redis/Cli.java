package dev.sluice.testkit.redis;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Runs {@code redis-cli} for a test, through its own ProcessBuilder, independent of the launcher under test. */
final class Cli {

    record Answer(int exitCode, String output) {
        /** The output without the trailing newline. */
        String text() {
            return output.strip();
        }
    }

    private Cli() {}

    /** {@code redis-cli -h 127.0.0.1 -p port args...}. */
    static Answer at(int port, String... args) {
        List<String> command = new ArrayList<>(List.of("redis-cli", "-h", "127.0.0.1", "-p", Integer.toString(port)));
        command.addAll(List.of(args));
        return run(command);
    }

    /** {@code redis-cli -c -h 127.0.0.1 -p port args...}: follows cluster redirections. */
    static Answer clusterAt(int port, String... args) {
        List<String> command = new ArrayList<>(List.of("redis-cli", "-c", "-h", "127.0.0.1", "-p", Integer.toString(port)));
        command.addAll(List.of(args));
        return run(command);
    }

    private static Answer run(List<String> command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            process.getOutputStream().close();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            return new Answer(process.waitFor(), output);
        } catch (IOException e) {
            throw new AssertionError("could not run " + command, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted running " + command, e);
        }
    }
}

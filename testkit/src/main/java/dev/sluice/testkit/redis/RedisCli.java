package dev.sluice.testkit.redis;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs {@code redis-cli} with a time limit and captures what it printed (stdout and stderr together). */
final class RedisCli {

    /** What one run printed and how it ended; {@code exitCode} is -1 when it was killed for running too long. */
    record Result(int exitCode, String output) {
        boolean ok() {
            return exitCode == 0;
        }
    }

    private RedisCli() {}

    /** {@code redis-cli -h 127.0.0.1 -p port args...}, killed after {@code timeout}. */
    static Result at(int port, Duration timeout, String... args) {
        List<String> command = new ArrayList<>(List.of("redis-cli", "-h", RedisServer.HOST, "-p", Integer.toString(port)));
        command.addAll(List.of(args));
        return run(command, timeout);
    }

    /** Runs {@code command}, killed after {@code timeout}. */
    static Result run(List<String> command, Duration timeout) {
        Path out = null;
        try {
            out = Files.createTempFile("sluice-redis-cli-", ".out");
            Process process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(out.toFile())
                    .redirectInput(ProcessBuilder.Redirect.PIPE)
                    .start();
            process.getOutputStream().close();
            int exitCode;
            if (process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                exitCode = process.exitValue();
            } else {
                process.destroyForcibly().waitFor();
                exitCode = -1;
            }
            return new Result(exitCode, Files.readString(out, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("could not run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + String.join(" ", command), e);
        } finally {
            if (out != null) {
                try {
                    Files.deleteIfExists(out);
                } catch (IOException ignored) {
                    // a leftover temp file is harmless
                }
            }
        }
    }
}

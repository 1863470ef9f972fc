package dev.sluice.testkit.redis;

import dev.sluice.testkit.LoopbackPorts;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;

/**
 * A private {@code redis-server} process on a free loopback port, for tests that need a real Redis they may break:
 * {@link #kill} stops it with SIGKILL, {@link #restart} brings it back on the same port, empty (nothing is ever
 * persisted). It never uses port 6379, so the machine's own Redis is never touched.
 *
 * <p>The process writes its output to a log file in its own temporary directory, not to the console; errors quote the
 * end of that log. {@link #close} kills the process and deletes the directory; a JVM that exits normally without
 * closing it still does both (a shutdown hook). Instances are thread-safe.
 */
public final class RedisServer implements AutoCloseable {

    static final String HOST = "127.0.0.1";
    static final int MACHINE_REDIS_PORT = 6379;

    private static final Duration START_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration CLI_TIMEOUT = Duration.ofSeconds(5);
    private static final int START_ATTEMPTS = 5;
    private static final long POLL_MILLIS = 25;
    private static final int LOG_TAIL_CHARS = 4000;

    /** Ports held by servers of this JVM that are not closed yet, even while killed, so no other server takes them. */
    private static final Set<Integer> HELD_PORTS = new HashSet<>();
    /** Servers not closed yet, killed by a shutdown hook if the JVM exits first. */
    private static final Set<RedisServer> OPEN = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> OPEN.forEach(RedisServer::emergencyStop),
                "sluice-redis-server-reaper"));
    }

    private final Path dir;
    private final Path log;
    private final int port;
    private final @Nullable Integer busPort;
    private final List<String> command;
    private volatile @Nullable Process process;
    private boolean closed;

    private RedisServer(Path dir, Path log, int port, @Nullable Integer busPort, List<String> command,
            Process process) {
        this.dir = dir;
        this.log = log;
        this.port = port;
        this.busPort = busPort;
        this.command = command;
        this.process = process;
    }

    /**
     * Starts a server on a free loopback port (never 6379) and returns once it answers {@code PING}.
     *
     * @throws IllegalStateException if {@code redis-server} or {@code redis-cli} is not on the PATH, or the server did
     *     not answer within about 10 seconds (the message quotes its output)
     */
    public static RedisServer start() {
        return launch(List.of(), false);
    }

    /** Whether both {@code redis-server} and {@code redis-cli} are executables on the PATH. */
    public static boolean available() {
        return onPath("redis-server") && onPath("redis-cli");
    }

    /**
     * Starts a server with {@code extraArgs} after the standard ones; a cluster node also gets its own cluster bus
     * port and the cluster settings. Retries on a new port when the chosen one turns out to be taken.
     */
    static RedisServer launch(List<String> extraArgs, boolean clusterNode) {
        if (!available()) {
            throw new IllegalStateException("redis-server and redis-cli must be on the PATH to start a private Redis"
                    + " (install them with: apt-get install -y redis-server)");
        }
        Path dir = createTempDir();
        Path log = dir.resolve("redis.log");
        StringBuilder tried = new StringBuilder();
        try {
            for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
                int port = holdFreePort();
                Integer busPort = null;
                Process process = null;
                boolean started = false;
                try {
                    busPort = clusterNode ? holdFreePort() : null;
                    List<String> command = command(port, busPort, dir, extraArgs);
                    long mark = size(log);
                    process = spawn(command, log);
                    Readiness readiness = awaitReady(process, port, deadline(START_TIMEOUT));
                    if (readiness == Readiness.READY) {
                        RedisServer server = new RedisServer(dir, log, port, busPort, List.copyOf(command), process);
                        OPEN.add(server);
                        started = true;
                        return server;
                    }
                    stop(process);
                    if (readiness == Readiness.EXITED && bindFailed(log, mark) && attempt < START_ATTEMPTS) {
                        tried.append(port).append(' ');
                        continue;
                    }
                    throw new IllegalStateException(failure(readiness, port, command, log)
                            + (tried.length() == 0 ? "" : "\n(ports found taken before: " + tried.toString().trim() + ")"));
                } finally {
                    if (!started) {
                        if (process != null) {
                            process.destroyForcibly();
                        }
                        release(port, busPort);
                    }
                }
            }
            throw new AssertionError("unreachable");
        } catch (RuntimeException | Error e) {
            deleteRecursively(dir);
            throw e;
        }
    }

    /** The loopback address the server listens on: {@code 127.0.0.1}. */
    public String host() {
        return HOST;
    }

    /** The port the server listens on; the same after {@link #restart}, never 6379. */
    public int port() {
        return port;
    }

    /** {@code redis://127.0.0.1:<port>}. */
    public String uri() {
        return "redis://" + HOST + ":" + port;
    }

    /** Whether the process is alive (false after {@link #kill} until {@link #restart}, and after {@link #close}). */
    public boolean running() {
        Process p = process;
        return p != null && p.isAlive();
    }

    /**
     * Holds every client's commands for {@code duration} ({@code CLIENT PAUSE ms ALL}): Redis stalls, then runs what
     * queued meanwhile, as under a long fork or a slow disk.
     *
     * @throws IllegalStateException if {@code redis-cli} could not pause it
     */
    public void stall(Duration duration) {
        String millis = Long.toString(duration.toMillis());
        RedisCli.Result r = RedisCli.at(port, CLI_TIMEOUT, "client", "pause", millis, "ALL");
        if (!r.ok() || !r.output().contains("OK")) {
            throw new IllegalStateException("CLIENT PAUSE on port " + port + " failed: " + r.output());
        }
    }

    /**
     * Holds every client's write commands (and scripts) for {@code duration} ({@code CLIENT PAUSE ms WRITE}); reads
     * are answered meanwhile, as on a replica promoted late or a master that stalls its writes.
     *
     * @throws IllegalStateException if {@code redis-cli} could not pause it
     */
    public void stallWrites(Duration duration) {
        String millis = Long.toString(duration.toMillis());
        RedisCli.Result r = RedisCli.at(port, CLI_TIMEOUT, "client", "pause", millis, "WRITE");
        if (!r.ok() || !r.output().contains("OK")) {
            throw new IllegalStateException("CLIENT PAUSE WRITE on port " + port + " failed: " + r.output());
        }
    }

    /** Kills the process with SIGKILL and waits until it has exited; does nothing if it is not running. */
    public synchronized void kill() {
        Process p = process;
        if (p != null) {
            stop(p);
        }
    }

    /**
     * Starts the server again on the same port, empty, killing it first if it is still running; returns once it
     * answers {@code PING}. Retries for about 10 seconds while the port is still taken.
     *
     * @throws IllegalStateException if it is closed, or did not come back in time (the message quotes its output)
     */
    public synchronized void restart() {
        if (closed) {
            throw new IllegalStateException("redis-server on port " + port + " is closed");
        }
        kill();
        long deadline = deadline(START_TIMEOUT);
        while (true) {
            long mark = size(log);
            Process p = spawn(command, log);
            Readiness readiness;
            try {
                readiness = awaitReady(p, port, deadline);
            } catch (RuntimeException | Error e) { // interrupted, or redis-cli failed: never leave the new server behind
                try {
                    stop(p); // SIGKILL is sent even if the wait for the exit is interrupted
                } catch (RuntimeException stopping) {
                    e.addSuppressed(stopping);
                }
                throw e;
            }
            if (readiness == Readiness.READY) {
                process = p;
                return;
            }
            stop(p);
            if (readiness == Readiness.EXITED && bindFailed(log, mark) && System.nanoTime() - deadline < 0) {
                pause(100);
                continue;
            }
            throw new IllegalStateException("restart: " + failure(readiness, port, command, log));
        }
    }

    /** Kills the process and deletes its directory; later calls do nothing. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        kill();
        OPEN.remove(this);
        release(port, busPort);
        deleteRecursively(dir);
    }

    @Override
    public String toString() {
        return "RedisServer[" + uri() + (running() ? "" : ", not running") + "]";
    }

    /** The server's temporary directory (its {@code --dir}, log and, for cluster nodes, {@code nodes.conf}). */
    Path dir() {
        return dir;
    }

    /** The cluster bus port of a cluster node, else null. */
    @Nullable Integer busPort() {
        return busPort;
    }

    /** The end of the server's log. */
    String logTail() {
        return tail(log);
    }

    private void emergencyStop() {
        Process p = process;
        if (p != null) {
            p.destroyForcibly();
        }
        deleteRecursively(dir);
    }

    // ---- processes ----

    private enum Readiness { READY, EXITED, TIMED_OUT }

    private static List<String> command(int port, @Nullable Integer busPort, Path dir, List<String> extraArgs) {
        List<String> command = new ArrayList<>(List.of(
                "redis-server",
                "--port", Integer.toString(port),
                "--bind", HOST,
                "--save", "",
                "--appendonly", "no",
                "--dir", dir.toString(),
                "--daemonize", "no"));
        if (busPort != null) {
            command.addAll(List.of(
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", dir.resolve("nodes.conf").toString(),
                    "--cluster-node-timeout", "2000",
                    "--cluster-port", busPort.toString()));
        }
        command.addAll(extraArgs);
        return command;
    }

    private static Process spawn(List<String> command, Path log) {
        try {
            return new ProcessBuilder(command)
                    .directory(log.getParent().toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("could not start " + String.join(" ", command), e);
        }
    }

    /**
     * Polls until {@code redis-cli ping} answers PONG from this very process (its {@code process_id} matches, so a
     * stranger that took the port does not count), the process exits, or the deadline passes.
     */
    private static Readiness awaitReady(Process process, int port, long deadline) {
        while (true) {
            if (!process.isAlive()) {
                return Readiness.EXITED;
            }
            RedisCli.Result ping = RedisCli.at(port, CLI_TIMEOUT, "ping");
            if (ping.ok() && ping.output().trim().equals("PONG")) {
                RedisCli.Result info = RedisCli.at(port, CLI_TIMEOUT, "info", "server");
                if (info.output().contains("process_id:" + process.pid() + "\r")
                        || info.output().contains("process_id:" + process.pid() + "\n")) {
                    return Readiness.READY;
                }
            }
            if (System.nanoTime() - deadline >= 0) {
                return process.isAlive() ? Readiness.TIMED_OUT : Readiness.EXITED;
            }
            pause(POLL_MILLIS);
        }
    }

    private static void stop(Process process) {
        process.destroyForcibly();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException("redis-server (pid " + process.pid() + ") survived SIGKILL for 10 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for redis-server to exit", e);
        }
    }

    private static String failure(Readiness readiness, int port, List<String> command, Path log) {
        String what = readiness == Readiness.TIMED_OUT
                ? "did not answer PING within " + START_TIMEOUT.toSeconds() + " s"
                : "exited before answering PING";
        return "redis-server on " + HOST + ":" + port + " " + what + ".\ncommand: " + String.join(" ", quoted(command))
                + "\nits output (" + log + "):\n" + tail(log);
    }

    private static List<String> quoted(List<String> command) {
        return command.stream().map(a -> a.isEmpty() ? "''" : a).toList();
    }

    private static boolean bindFailed(Path log, long from) {
        String output = read(log, from);
        return output.contains("Address already in use") || output.contains("Failed listening on port");
    }

    // ---- ports ----

    /**
     * A loopback port that was free a moment ago, not 6379 and not held by another server of this JVM; below the
     * ephemeral range, so no client connection takes it before redis-server binds it ({@link LoopbackPorts}).
     */
    private static int holdFreePort() {
        for (int i = 0; i < 100; i++) {
            int candidate = LoopbackPorts.pick();
            synchronized (HELD_PORTS) {
                if (candidate != MACHINE_REDIS_PORT && HELD_PORTS.add(candidate)) {
                    return candidate;
                }
            }
        }
        throw new IllegalStateException("found no free port on " + HOST);
    }

    private static void release(int port, @Nullable Integer busPort) {
        synchronized (HELD_PORTS) {
            HELD_PORTS.remove(port);
            if (busPort != null) {
                HELD_PORTS.remove(busPort);
            }
        }
    }

    // ---- files and small helpers ----

    private static boolean onPath(String name) {
        String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String entry : path.split(File.pathSeparator)) {
            if (!entry.isEmpty()) {
                Path candidate = Path.of(entry, name);
                if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static Path createTempDir() {
        try {
            return Files.createTempDirectory("sluice-redis-");
        } catch (IOException e) {
            throw new UncheckedIOException("could not create a temporary directory for redis-server", e);
        }
    }

    private static long size(Path file) {
        try {
            return Files.exists(file) ? Files.size(file) : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    private static String read(Path file, long from) {
        try {
            byte[] bytes = Files.exists(file) ? Files.readAllBytes(file) : new byte[0];
            int start = (int) Math.min(Math.max(from, 0), bytes.length);
            return new String(bytes, start, bytes.length - start, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(could not read " + file + ": " + e + ")";
        }
    }

    private static String tail(Path log) {
        String all = read(log, 0);
        return all.length() <= LOG_TAIL_CHARS ? all : "..." + all.substring(all.length() - LOG_TAIL_CHARS);
    }

    private static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort: a leftover file in the temp directory is harmless
                }
            });
        } catch (IOException | UncheckedIOException ignored) {
            // best effort
        }
    }

    private static long deadline(Duration timeout) {
        return System.nanoTime() + timeout.toNanos();
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for redis-server", e);
        }
    }
}

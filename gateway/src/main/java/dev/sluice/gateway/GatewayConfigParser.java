package dev.sluice.gateway;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.sluice.api.Algorithm;
import dev.sluice.core.Durations;
import dev.sluice.gateway.GatewayConfig.Backend;
import dev.sluice.gateway.GatewayConfig.BackendType;
import dev.sluice.gateway.GatewayConfig.Cache;
import dev.sluice.gateway.GatewayConfig.IoTransport;
import dev.sluice.gateway.GatewayConfig.LimitSpec;
import dev.sluice.gateway.GatewayConfig.Model;
import dev.sluice.gateway.GatewayConfig.Passthrough;
import dev.sluice.gateway.GatewayConfig.Provider;
import dev.sluice.gateway.GatewayConfig.ProviderKey;
import dev.sluice.gateway.GatewayConfig.Queue;
import dev.sluice.gateway.GatewayConfig.Server;
import dev.sluice.gateway.GatewayConfig.Tenant;
import dev.sluice.gateway.GatewayConfig.Upstream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Reads a {@link GatewayConfig} from YAML and validates all of it before anything starts: every error is a
 * {@link GatewayConfigException} that names the field ({@code providers.openai.keys[0].env}), and unknown fields are
 * errors too (a misspelt limit would otherwise be silently ignored). Secrets are resolved from environment variables
 * or files at parse time; their values never appear in an error.
 */
public final class GatewayConfigParser {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    private static final Pattern MODEL = Pattern.compile("[A-Za-z0-9_.:/@-]{1,128}");
    private static final YAMLMapper YAML = new YAMLMapper();

    private final Function<String, @Nullable String> env;

    private GatewayConfigParser(Function<String, @Nullable String> env) {
        this.env = env;
    }

    /** A parser that resolves {@code env:} secrets from the process environment. */
    public static GatewayConfigParser create() {
        return new GatewayConfigParser(System::getenv);
    }

    /** A parser that resolves {@code env:} secrets with {@code env} (for tests). */
    public static GatewayConfigParser withEnv(Function<String, @Nullable String> env) {
        return new GatewayConfigParser(env);
    }

    /**
     * Reads and validates the file.
     *
     * @throws GatewayConfigException naming the field at fault, or if the file cannot be read
     */
    public GatewayConfig load(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new GatewayConfigException("cannot read configuration file " + file + ": " + e.getMessage());
        }
        return parse(text);
    }

    /**
     * Parses and validates YAML text.
     *
     * @throws GatewayConfigException naming the field at fault
     */
    public GatewayConfig parse(String yaml) {
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (JsonProcessingException e) {
            // only where: SnakeYAML's message quotes the offending line, which may hold a literal secret
            JsonLocation at = e.getLocation();
            throw new GatewayConfigException("configuration is not valid YAML" + (at == null ? "" : " at line "
                    + at.getLineNr() + ", column " + at.getColumnNr()) + " (the line is not shown: it may hold a "
                    + "secret)");
        }
        if (root == null || root.isMissingNode() || root.isNull()) {
            root = YAML.createObjectNode();
        }
        Obj r = new Obj(root, "");
        r.allow("server", "backend", "queue", "upstream", "cache", "passthrough", "providers", "models", "tenants");
        Server server = server(r.obj("server"));
        Backend backend = backend(r.obj("backend"));
        Queue queue = queue(r.obj("queue"));
        Upstream upstream = upstream(r.obj("upstream"));
        Cache cache = cache(r.obj("cache"));
        Map<String, Provider> providers = new LinkedHashMap<>();
        Obj ps = r.obj("providers");
        for (String name : ps.keys()) {
            providers.put(name, provider(name, ps.obj(name)));
        }
        if (providers.isEmpty()) {
            throw new GatewayConfigException("providers: at least one provider is required");
        }
        Passthrough passthrough = passthrough(r.obj("passthrough"), providers);
        Map<String, Model> models = new LinkedHashMap<>();
        Obj ms = r.obj("models");
        for (String name : ms.keys()) {
            models.put(name, model(name, ms.obj(name), providers));
        }
        if (models.isEmpty()) {
            throw new GatewayConfigException("models: at least one model is required");
        }
        Map<String, Tenant> tenants = new LinkedHashMap<>();
        Obj ts = r.obj("tenants");
        Set<String> seen = new java.util.HashSet<>();
        for (String name : ts.keys()) {
            Tenant t = tenant(name, ts.obj(name));
            for (byte[] h : t.keyHashes()) {
                if (!seen.add(HexFormat.of().formatHex(h))) {
                    throw new GatewayConfigException("tenants." + name + ".keys: a key is already used by another "
                            + "tenant");
                }
            }
            tenants.put(name, t);
        }
        return new GatewayConfig(server, backend, queue, upstream, cache, passthrough, providers, models, tenants);
    }

    private static Server server(Obj o) {
        o.allow("host", "port", "maxBodyBytes", "drainTimeout", "reloadInterval", "eventLoops", "transport",
                "bodyTimeout", "idleTimeout");
        Server d = Server.defaults();
        int port = (int) o.longVal("port", d.port(), 0, 65535);
        IoTransport t = choice(o, "transport", IoTransport.class, d.transport());
        return new Server(o.str("host", d.host()), port, o.longVal("maxBodyBytes", d.maxBodyBytes(), 1, 1L << 30),
                o.duration("drainTimeout", d.drainTimeout(), true), o.duration("reloadInterval", d.reloadInterval(),
                        true), (int) o.longVal("eventLoops", d.eventLoops(), 0, 256), t,
                o.duration("bodyTimeout", d.bodyTimeout(), false), o.duration("idleTimeout", d.idleTimeout(), true));
    }

    /** The constant of {@code type} that the field names, in any case; an error naming the field and the choices. */
    private static <E extends Enum<E>> E choice(Obj o, String field, Class<E> type, E dflt) {
        String v = o.str(field, dflt.name()).toUpperCase(Locale.ROOT);
        try {
            return Enum.valueOf(type, v);
        } catch (IllegalArgumentException e) {
            E[] all = type.getEnumConstants();
            StringBuilder choices = new StringBuilder();
            for (int i = 0; i < all.length; i++) {
                choices.append(i == 0 ? "" : i == all.length - 1 ? " or " : ", ")
                        .append(all[i].name().toLowerCase(Locale.ROOT));
            }
            throw new GatewayConfigException(o.path(field) + ": must be " + choices + ", was '"
                    + v.toLowerCase(Locale.ROOT) + "'");
        }
    }

    private Backend backend(Obj o) {
        o.allow("type", "namespace", "redis", "hazelcast", "timeout", "failurePolicy");
        Backend d = Backend.memory();
        BackendType t = choice(o, "type", BackendType.class, BackendType.MEMORY);
        String ns = o.str("namespace", d.namespace());
        if (!Pattern.matches("[A-Za-z0-9_.:-]{1,64}", ns)) {
            throw new GatewayConfigException(o.path("namespace") + ": 1-64 characters of [A-Za-z0-9_.:-]");
        }
        Obj redis = o.obj("redis");
        redis.allow("address", "password");
        String address = redis.str("address", d.redisAddress());
        if (!address.startsWith("redis://") && !address.startsWith("rediss://")) {
            throw new GatewayConfigException(redis.path("address") + ": must start with redis:// or rediss://");
        }
        String password = redis.has("password") ? secret(redis.obj("password")) : null;
        Obj hz = o.obj("hazelcast");
        hz.allow("clusterName", "addresses");
        List<String> addresses = hz.strings("addresses", d.hazelcastAddresses());
        String policy = o.str("failurePolicy", d.failurePolicy()).toUpperCase(Locale.ROOT);
        if (!policy.equals("FAIL_CLOSED") && !policy.equals("FAIL_OPEN")) {
            throw new GatewayConfigException(o.path("failurePolicy") + ": must be fail_closed or fail_open");
        }
        return new Backend(t, ns, address, password, hz.str("clusterName", d.hazelcastCluster()), addresses,
                o.duration("timeout", d.timeout(), false), policy);
    }

    private static Queue queue(Obj o) {
        o.allow("maxWait", "maxWaitingPerTenant");
        Queue d = Queue.defaults();
        return new Queue(o.duration("maxWait", d.maxWait(), true),
                (int) o.longVal("maxWaitingPerTenant", d.maxWaitingPerTenant(), 1, 1_000_000));
    }

    private static Upstream upstream(Obj o) {
        o.allow("connectTimeout", "timeout", "maxRetries", "defaultCooldown", "backoffBase", "backoffCap",
                "responseAffinity", "responseIsolation");
        Upstream d = Upstream.defaults();
        Duration base = o.duration("backoffBase", d.backoffBase(), true);
        Duration cap = o.duration("backoffCap", d.backoffCap(), true);
        if (base.compareTo(Duration.ofHours(1)) > 0) {
            throw new GatewayConfigException(o.path("backoffBase") + ": must be at most 1h, was '"
                    + o.required("backoffBase") + "'");
        }
        if (cap.compareTo(Duration.ofHours(1)) > 0) {
            throw new GatewayConfigException(o.path("backoffCap") + ": must be at most 1h, was '"
                    + o.required("backoffCap") + "'");
        }
        if (cap.compareTo(base) < 0) {
            String b = o.has("backoffBase") ? o.required("backoffBase") : "the default " + d.backoffBase().toMillis()
                    + "ms";
            String c = o.has("backoffCap") ? "'" + o.required("backoffCap") + "'" : "the default "
                    + d.backoffCap().toMillis() + "ms";
            throw new GatewayConfigException(o.path("backoffCap") + ": must be at least backoffBase (" + b + "), was "
                    + c);
        }
        Duration affinity = o.duration("responseAffinity", d.responseAffinity(), true);
        boolean isolation = o.bool("responseIsolation", d.responseIsolation());
        if (isolation && affinity.isZero()) {
            throw new GatewayConfigException(o.path("responseIsolation") + ": needs responseAffinity above zero (a "
                    + "tenant's responses are known by what is remembered), was 0");
        }
        return new Upstream(o.duration("connectTimeout", d.connectTimeout(), false),
                o.duration("timeout", d.timeout(), false), (int) o.longVal("maxRetries", d.maxRetries(), 0, 10),
                o.duration("defaultCooldown", d.defaultCooldown(), false), base, cap, affinity, isolation);
    }

    private static Cache cache(Obj o) {
        o.allow("enabled", "ttl", "maxEntries", "deterministicOnly");
        Cache d = Cache.defaults();
        return new Cache(o.bool("enabled", d.enabled()), o.duration("ttl", d.ttl(), false),
                o.longVal("maxEntries", d.maxEntries(), 1, 100_000_000), o.bool("deterministicOnly",
                        d.deterministicOnly()));
    }

    private static Passthrough passthrough(Obj o, Map<String, Provider> providers) {
        o.allow("provider");
        if (!o.has("provider")) {
            return Passthrough.defaults();
        }
        String name = o.required("provider");
        if (!providers.containsKey(name)) {
            throw new GatewayConfigException(o.path("provider") + ": no provider named '" + name + "' (known: "
                    + providers.keySet() + ")");
        }
        return new Passthrough(name);
    }

    private Provider provider(String name, Obj o) {
        checkName(o.where, name);
        o.allow("baseUrl", "keys", "limits", "chargesMaxTokens");
        String base = o.required("baseUrl");
        if (!base.startsWith("http://") && !base.startsWith("https://")) {
            throw new GatewayConfigException(o.path("baseUrl") + ": must be an http:// or https:// URL");
        }
        try {
            java.net.URI.create(base).toURL();
        } catch (Exception e) {
            throw new GatewayConfigException(o.path("baseUrl") + ": not a valid URL");
        }
        List<ProviderKey> keys = new ArrayList<>();
        List<Obj> ks = o.list("keys");
        if (ks.isEmpty()) {
            throw new GatewayConfigException(o.path("keys") + ": at least one key is required");
        }
        Set<String> ids = new java.util.HashSet<>();
        for (int i = 0; i < ks.size(); i++) {
            Obj k = ks.get(i);
            k.allow("id", "env", "file", "value");
            String id = k.str("id", "key" + i);
            checkName(k.path("id"), id);
            if (!ids.add(id)) {
                throw new GatewayConfigException(k.path("id") + ": duplicate key id '" + id + "'");
            }
            keys.add(new ProviderKey(id, secret(k)));
        }
        LimitSpec limits = limits(o.obj("limits"));
        if (limits.entries().isEmpty()) {
            throw new GatewayConfigException(o.path("limits") + ": at least one limit is required (for example "
                    + "requestsPerMinute: 500)");
        }
        return new Provider(name, base.endsWith("/") ? base.substring(0, base.length() - 1) : base, keys, limits,
                o.bool("chargesMaxTokens", false));
    }

    private static Model model(String name, Obj o, Map<String, Provider> providers) {
        if (!MODEL.matcher(name).matches()) {
            throw new GatewayConfigException(o.where + ": a model name is 1-128 characters of [A-Za-z0-9_.:/@-]");
        }
        o.allow("provider", "upstreamModel", "maxOutputTokens", "limits", "imageTokens");
        String provider = o.has("provider") ? o.required("provider")
                : providers.size() == 1 ? providers.keySet().iterator().next() : o.required("provider");
        if (!providers.containsKey(provider)) {
            throw new GatewayConfigException(o.path("provider") + ": no provider named '" + provider + "' (known: "
                    + providers.keySet() + ")");
        }
        LimitSpec limits = o.has("limits") ? limits(o.obj("limits")) : null;
        if (limits != null && limits.entries().isEmpty()) {
            throw new GatewayConfigException(o.path("limits") + ": empty; leave it out to share the provider's");
        }
        return new Model(name, provider, o.str("upstreamModel", name),
                o.longVal("maxOutputTokens", 1024, 1, 10_000_000), limits,
                o.longVal("imageTokens", Model.DEFAULT_IMAGE_TOKENS, 0, 10_000_000));
    }

    private Tenant tenant(String name, Obj o) {
        checkName(o.where, name);
        o.allow("keys", "limits");
        List<byte[]> hashes = new ArrayList<>();
        List<Obj> ks = o.list("keys");
        if (ks.isEmpty()) {
            throw new GatewayConfigException(o.path("keys") + ": at least one gateway key is required");
        }
        for (Obj k : ks) {
            k.allow("sha256", "env", "file", "value");
            if (k.has("sha256")) {
                String hex = k.required("sha256").toLowerCase(Locale.ROOT);
                if (!Pattern.matches("[0-9a-f]{64}", hex)) {
                    throw new GatewayConfigException(k.path("sha256") + ": 64 hex digits expected");
                }
                hashes.add(HexFormat.of().parseHex(hex));
            } else {
                hashes.add(sha256(secret(k)));
            }
        }
        LimitSpec limits = o.has("limits") ? limits(o.obj("limits")) : null;
        return new Tenant(name, hashes, limits == null || limits.entries().isEmpty() ? null : limits);
    }

    /** requestsPerSecond/Minute/Day, tokensPerSecond/Minute/Day, algorithm, or a list under {@code custom}. */
    private static LimitSpec limits(Obj o) {
        o.allow("requestsPerSecond", "requestsPerMinute", "requestsPerHour", "requestsPerDay", "tokensPerSecond",
                "tokensPerMinute", "tokensPerHour", "tokensPerDay", "algorithm", "custom");
        @Nullable Algorithm forced = o.has("algorithm") ? algorithm(o, "algorithm") : null;
        List<LimitSpec.Entry> entries = new ArrayList<>();
        String[][] shorthands = {
            {"requestsPerSecond", "requests", "PT1S"}, {"requestsPerMinute", "requests", "PT1M"},
            {"requestsPerHour", "requests", "PT1H"}, {"requestsPerDay", "requests", "PT24H"},
            {"tokensPerSecond", "tokens", "PT1S"}, {"tokensPerMinute", "tokens", "PT1M"},
            {"tokensPerHour", "tokens", "PT1H"}, {"tokensPerDay", "tokens", "PT24H"}};
        for (String[] s : shorthands) {
            if (o.has(s[0])) {
                long cap = o.longVal(s[0], 0, 1, Long.MAX_VALUE / 4);
                Duration period = Duration.parse(s[2]);
                Algorithm a = forced != null ? forced : defaultAlgorithm(cap, period);
                entries.add(entry(o.path(s[0]), s[1], cap, period, a));
            }
        }
        List<Obj> custom = o.list("custom");
        for (Obj c : custom) {
            c.allow("dimension", "capacity", "period", "algorithm");
            String dim = c.required("dimension");
            if (!dim.equals("requests") && !dim.equals("tokens")) {
                throw new GatewayConfigException(c.path("dimension") + ": must be requests or tokens");
            }
            long cap = c.longVal("capacity", 0, 1, Long.MAX_VALUE / 4);
            if (!c.has("capacity")) {
                throw new GatewayConfigException(c.path("capacity") + ": required");
            }
            Duration period = c.duration("period", null, false);
            Algorithm a = c.has("algorithm") ? algorithm(c, "algorithm") : defaultAlgorithm(cap, period);
            entries.add(entry(c.where, dim, cap, period, a));
        }
        return new LimitSpec(entries);
    }

    /**
     * Exact sliding logs for small limits (what providers enforce, state bounded by the capacity), the
     * sliding-window counter above 1,000, and a fixed window aligned to UTC midnight for daily limits.
     */
    static Algorithm defaultAlgorithm(long capacity, Duration period) {
        if (period.equals(Duration.ofDays(1))) {
            return Algorithm.FIXED_WINDOW;
        }
        return capacity <= 1000 ? Algorithm.SLIDING_LOG : Algorithm.SLIDING_WINDOW_COUNTER;
    }

    private static LimitSpec.Entry entry(String where, String dim, long cap, Duration period, Algorithm a) {
        try {
            return new LimitSpec.Entry(dim, cap, period, a);
        } catch (IllegalArgumentException e) {
            throw new GatewayConfigException(where + ": " + e.getMessage());
        }
    }

    private static Algorithm algorithm(Obj o, String field) {
        String v = o.required(field).toUpperCase(Locale.ROOT).replace('-', '_');
        try {
            return Algorithm.valueOf(v);
        } catch (IllegalArgumentException e) {
            throw new GatewayConfigException(o.path(field) + ": one of " + java.util.Arrays.toString(
                    Algorithm.values()).toLowerCase(Locale.ROOT) + ", was '" + v.toLowerCase(Locale.ROOT) + "'");
        }
    }

    /** A secret from exactly one of {@code env}, {@code file}, {@code value}. */
    private String secret(Obj k) {
        int n = (k.has("env") ? 1 : 0) + (k.has("file") ? 1 : 0) + (k.has("value") ? 1 : 0);
        if (n != 1) {
            throw new GatewayConfigException(k.where + ": exactly one of env, file or value is required");
        }
        String s;
        if (k.has("env")) {
            String var = k.required("env");
            s = env.apply(var);
            if (s == null || s.isBlank()) {
                throw new GatewayConfigException(k.path("env") + ": environment variable " + var + " is not set");
            }
        } else if (k.has("file")) {
            Path p = Path.of(k.required("file"));
            try {
                s = Files.readString(p, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new GatewayConfigException(k.path("file") + ": cannot read " + p);
            }
        } else {
            s = k.required("value");
        }
        s = s.strip();
        if (s.isEmpty()) {
            throw new GatewayConfigException(k.where + ": the secret is empty");
        }
        return s;
    }

    static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void checkName(String where, String name) {
        if (!NAME.matcher(name).matches()) {
            throw new GatewayConfigException(where + ": a name is 1-64 characters of [A-Za-z0-9_.-], was '" + name
                    + "'");
        }
    }

    /** A YAML mapping with its path, for errors that name the field. */
    private static final class Obj {
        final JsonNode node;
        final String where;

        Obj(JsonNode node, String where) {
            this.node = node;
            this.where = where;
        }

        String path(String field) {
            return where.isEmpty() ? field : where + "." + field;
        }

        boolean has(String field) {
            return node.has(field) && !node.get(field).isNull();
        }

        void allow(String... fields) {
            Set<String> ok = Set.of(fields);
            for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!ok.contains(f)) {
                    throw new GatewayConfigException(path(f) + ": unknown field (known: " + String.join(", ", fields)
                            + ")");
                }
            }
        }

        List<String> keys() {
            List<String> k = new ArrayList<>();
            node.fieldNames().forEachRemaining(k::add);
            return k;
        }

        Obj obj(String field) {
            JsonNode n = node.get(field);
            if (n == null || n.isNull()) {
                return new Obj(YAML.createObjectNode(), path(field));
            }
            if (!n.isObject()) {
                throw new GatewayConfigException(path(field) + ": a mapping is expected");
            }
            return new Obj(n, path(field));
        }

        List<Obj> list(String field) {
            JsonNode n = node.get(field);
            List<Obj> out = new ArrayList<>();
            if (n == null || n.isNull()) {
                return out;
            }
            if (!n.isArray()) {
                throw new GatewayConfigException(path(field) + ": a list is expected");
            }
            for (int i = 0; i < n.size(); i++) {
                if (!n.get(i).isObject()) {
                    throw new GatewayConfigException(path(field) + "[" + i + "]: a mapping is expected");
                }
                out.add(new Obj(n.get(i), path(field) + "[" + i + "]"));
            }
            return out;
        }

        List<String> strings(String field, List<String> dflt) {
            JsonNode n = node.get(field);
            if (n == null || n.isNull()) {
                return dflt;
            }
            if (!n.isArray()) {
                throw new GatewayConfigException(path(field) + ": a list is expected");
            }
            List<String> out = new ArrayList<>();
            for (JsonNode e : n) {
                out.add(e.asText());
            }
            return out;
        }

        String required(String field) {
            JsonNode n = node.get(field);
            if (n == null || n.isNull()) {
                throw new GatewayConfigException(path(field) + ": required");
            }
            if (!n.isValueNode()) {
                throw new GatewayConfigException(path(field) + ": a value is expected");
            }
            return n.asText();
        }

        String str(String field, String dflt) {
            return has(field) ? required(field) : dflt;
        }

        boolean bool(String field, boolean dflt) {
            if (!has(field)) {
                return dflt;
            }
            JsonNode n = node.get(field);
            if (!n.isBoolean()) {
                throw new GatewayConfigException(path(field) + ": true or false expected, was '" + n.asText() + "'");
            }
            return n.asBoolean();
        }

        long longVal(String field, long dflt, long min, long max) {
            if (!has(field)) {
                return dflt;
            }
            JsonNode n = node.get(field);
            if (!n.canConvertToExactIntegral() && !(n.isTextual() && n.asText().matches("-?[0-9_]+"))) {
                throw new GatewayConfigException(path(field) + ": a whole number is expected, was '" + n.asText()
                        + "'");
            }
            long v;
            try {
                if (n.isTextual()) {
                    v = Long.parseLong(n.asText().replace("_", ""));
                } else if (n.canConvertToLong()) {
                    v = n.asLong();
                } else { // asLong() would truncate a BigInteger to its low 64 bits
                    throw new NumberFormatException();
                }
            } catch (NumberFormatException e) {
                throw new GatewayConfigException(path(field) + ": must be between " + min + " and " + max + ", was '"
                        + n.asText() + "'");
            }
            if (v < min || v > max) {
                throw new GatewayConfigException(path(field) + ": must be between " + min + " and " + max + ", was "
                        + v);
            }
            return v;
        }

        Duration duration(String field, @Nullable Duration dflt, boolean zeroOk) {
            if (!has(field)) {
                if (dflt == null) {
                    throw new GatewayConfigException(path(field) + ": required");
                }
                return dflt;
            }
            String s = required(field);
            Duration d = Durations.parse(s);
            if (d == null) {
                throw new GatewayConfigException(path(field) + ": a duration such as 500ms, 30s, 1m, 1h or 1d is "
                        + "expected, was '" + s + "'");
            }
            if (d.isNegative() || (!zeroOk && d.isZero())) {
                throw new GatewayConfigException(path(field) + ": must be " + (zeroOk ? "zero or " : "")
                        + "positive, was '" + s + "'");
            }
            return d;
        }
    }
}

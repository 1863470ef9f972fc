package dev.sluice.governor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.sluice.core.Durations;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import org.jspecify.annotations.Nullable;

/**
 * Provider and model limits, read from YAML with Jackson. Immutable. The shipped examples
 * ({@link #builtIn()}, {@code dev/sluice/governor/profiles.yaml}) name the public page and the date each provider's
 * numbers were read; users override them with their own file ({@link #overriddenBy}), since tiers differ per account.
 *
 * <pre>{@code
 * providers:
 *   groq:
 *     source: https://console.groq.com/docs/rate-limits
 *     read: "2026-11-28"
 *     dialect: groq              # openai | groq | anthropic | gemini | none
 *     encoding: cl100k_base      # jtokkit encoding; absent: a conservative estimate
 *     dailyReset: rolling        # or "00:00 America/Los_Angeles"
 *     models:
 *       llama-3.1-8b-instant: {rpm: 30, tpm: 6000, rpd: 14400, tpd: 500000}
 *     default: {rpm: 10, tpm: 2000}   # optional explicit default for unlisted models
 * }</pre>
 *
 * <p>Keys of a provider or model: {@code rpm tpm itpm otpm rpd tpd concurrent} (limits; absent or 0 = none),
 * {@code window} (default {@code 1m}), {@code dayWindow} ({@code 1d}), {@code guard} (default 1% of the window),
 * {@code dailyReset}, {@code dialect}, {@code encoding}, {@code defaultMaxTokens} (1024), {@code imageTokens}
 * (1445, per image part of a request), {@code leaseTtl}
 * ({@code 10m}), {@code adaptive} (default: true when the dialect publishes no limits), {@code chargesMaxTokens}
 * (false: the provider counts the tokens a call used; true: it counts {@code max_tokens} in full, as OpenAI documents),
 * {@code spread} (1), {@code source}, {@code read}. A model inherits what it does not set from its provider.
 * Durations: {@code 20ms}, {@code 1.5s}, {@code 6m0s}, {@code 1h}, {@code 1d} or ISO-8601.
 */
public final class ProviderProfiles {

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final String BUILT_IN = "/dev/sluice/governor/profiles.yaml";

    private final Map<String, Map<String, ModelProfile>> models;
    private final Map<String, @Nullable ModelProfile> defaults;

    private ProviderProfiles(Map<String, Map<String, ModelProfile>> models,
            Map<String, @Nullable ModelProfile> defaults) {
        this.models = models;
        this.defaults = defaults;
    }

    /** The example profiles shipped with Sluice. */
    public static ProviderProfiles builtIn() {
        try (InputStream in = ProviderProfiles.class.getResourceAsStream(BUILT_IN)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + BUILT_IN);
            }
            return fromYaml(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Profiles from a YAML file.
     *
     * @throws IllegalArgumentException naming the provider, model and key of the first bad value
     */
    public static ProviderProfiles fromYaml(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            return fromYaml(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read profiles from " + file, e);
        }
    }

    /** Profiles from YAML text; see {@link #fromYaml(Path)}. */
    public static ProviderProfiles fromYaml(String yaml) {
        try {
            return parse(YAML.readTree(yaml));
        } catch (IOException e) {
            throw new IllegalArgumentException("profiles are not valid YAML: " + e.getMessage(), e);
        }
    }

    /** Profiles from a YAML stream; see {@link #fromYaml(Path)}. */
    public static ProviderProfiles fromYaml(InputStream yaml) throws IOException {
        return parse(YAML.readTree(yaml));
    }

    /** These profiles with every provider and model of {@code overrides} replacing or adding to them. */
    public ProviderProfiles overriddenBy(ProviderProfiles overrides) {
        Map<String, Map<String, ModelProfile>> m = new LinkedHashMap<>();
        models.forEach((p, ms) -> m.put(p, new LinkedHashMap<>(ms)));
        overrides.models.forEach((p, ms) -> m.computeIfAbsent(p, k -> new LinkedHashMap<>()).putAll(ms));
        Map<String, @Nullable ModelProfile> d = new LinkedHashMap<>(defaults);
        overrides.defaults.forEach((p, def) -> {
            if (def != null || !d.containsKey(p)) {
                d.put(p, def);
            }
        });
        return new ProviderProfiles(m, d);
    }

    /**
     * The profile of {@code model} at {@code provider}, or the provider's explicit default.
     *
     * @throws UnknownModelException if neither exists (never a silent "unlimited")
     */
    public ModelProfile model(String provider, String model) {
        Map<String, ModelProfile> ms = models.get(provider);
        ModelProfile p = ms == null ? null : ms.get(model);
        if (p != null) {
            return p;
        }
        ModelProfile def = defaults.get(provider);
        if (def != null) {
            return new ModelProfile(provider, model, def.requests(), def.tokens(), def.inputTokens(),
                    def.outputTokens(), def.requestsPerDay(), def.tokensPerDay(), def.concurrent(), def.window(),
                    def.dayWindow(), def.guard(), def.dailyReset(), def.dialect(), def.encoding(),
                    def.defaultMaxTokens(), def.imageTokens(), def.leaseTtl(), def.adaptive(), def.chargesMaxTokens(), def.spread(),
                    def.source(), def.read());
        }
        throw new UnknownModelException(provider, model, known());
    }

    /** The providers named. */
    public List<String> providers() {
        return List.copyOf(new TreeSet<>(models.keySet()));
    }

    private String known() {
        List<String> all = new ArrayList<>();
        models.forEach((p, ms) -> ms.keySet().forEach(m -> all.add(p + "/" + m)));
        return all.isEmpty() ? "(none)" : String.join(", ", new TreeSet<>(all));
    }

    private static ProviderProfiles parse(@Nullable JsonNode root) {
        Map<String, Map<String, ModelProfile>> models = new LinkedHashMap<>();
        Map<String, @Nullable ModelProfile> defaults = new LinkedHashMap<>();
        if (root == null || !root.path("providers").isObject()) {
            throw new IllegalArgumentException("profiles need a top-level 'providers' map");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = root.get("providers").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String provider = e.getKey();
            JsonNode p = e.getValue();
            Map<String, ModelProfile> ms = new LinkedHashMap<>();
            JsonNode mnode = p.path("models");
            if (!mnode.isMissingNode() && !mnode.isObject()) {
                throw new IllegalArgumentException(provider + ": 'models' must be a map of model name to limits");
            }
            for (Iterator<Map.Entry<String, JsonNode>> mi = mnode.fields(); mi.hasNext(); ) {
                Map.Entry<String, JsonNode> m = mi.next();
                ms.put(m.getKey(), profile(provider, m.getKey(), p, m.getValue()));
            }
            models.put(provider, ms);
            JsonNode def = p.get("default");
            defaults.put(provider, def == null || def.isNull() ? null : profile(provider, "default", p, def));
        }
        return new ProviderProfiles(models, defaults);
    }

    private static ModelProfile profile(String provider, String model, JsonNode p, JsonNode m) {
        Reader r = new Reader(provider + "/" + model, p, m);
        Duration window = r.duration("window", Duration.ofMinutes(1));
        HeaderDialect dialect = r.dialect();
        return new ModelProfile(provider, model, r.count("rpm"), r.count("tpm"), r.count("itpm"), r.count("otpm"),
                r.count("rpd"), r.count("tpd"), r.count("concurrent"), window,
                r.duration("dayWindow", Duration.ofDays(1)), r.duration("guard", window.dividedBy(100)),
                r.dailyReset(), dialect, r.text("encoding"), r.countOr("defaultMaxTokens", 1024),
                r.countOr("imageTokens", ModelProfile.DEFAULT_IMAGE_TOKENS),
                r.duration("leaseTtl", Duration.ofMinutes(10)), r.bool("adaptive", !dialect.publishesLimits()),
                r.bool("chargesMaxTokens", false), (int) Math.max(1, r.countOr("spread", 1)), r.text("source"),
                r.text("read"));
    }

    /** Reads one key from the model node, else the provider node, with errors that name both. */
    private record Reader(String where, JsonNode provider, JsonNode model) {

        @Nullable JsonNode get(String key) {
            JsonNode v = model.get(key);
            if (v == null || v.isNull()) {
                v = provider.get(key);
            }
            return v == null || v.isNull() ? null : v;
        }

        long count(String key) {
            return countOr(key, 0);
        }

        long countOr(String key, long dflt) {
            JsonNode v = get(key);
            if (v == null) {
                return dflt;
            }
            if (v.isIntegralNumber() && v.canConvertToLong() && v.asLong() >= 0) { // not a truncated BigInteger
                return v.asLong();
            }
            if (v.isTextual()) {
                try {
                    return parseCount(v.asText());
                } catch (NumberFormatException e) {
                    // fall through
                }
            }
            throw new IllegalArgumentException(where + ": '" + key + "' must be a whole number from 0 to "
                    + Long.MAX_VALUE + ", was " + v);
        }

        Duration duration(String key, Duration dflt) {
            JsonNode v = get(key);
            if (v == null) {
                return dflt;
            }
            Duration d = Durations.parse(v.asText());
            if (d == null || d.isNegative()) {
                throw new IllegalArgumentException(where + ": '" + key + "' is not a duration: " + v);
            }
            return d;
        }

        @Nullable String text(String key) {
            JsonNode v = get(key);
            return v == null ? null : v.asText();
        }

        boolean bool(String key, boolean dflt) {
            JsonNode v = get(key);
            if (v == null) {
                return dflt;
            }
            String t = v.asText();
            if (v.isBoolean() || t.equals("true") || t.equals("false")) {
                return v.asBoolean();
            }
            throw new IllegalArgumentException(where + ": " + key + " must be true or false, was " + v);
        }

        DailyReset dailyReset() {
            String t = text("dailyReset");
            try {
                return t == null ? DailyReset.rolling() : DailyReset.parse(t);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
            }
        }

        HeaderDialect dialect() {
            String t = text("dialect");
            if (t == null) {
                return HeaderDialect.OPENAI;
            }
            try {
                return HeaderDialect.valueOf(t.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + ": 'dialect' must be one of openai, groq, anthropic,"
                        + " gemini, none; was '" + t + "'", e);
            }
        }
    }

    /** {@code 14400}, {@code 14.4K}, {@code 1M}, {@code 1_000}. */
    static long parseCount(String s) {
        String t = s.trim().replace("_", "").replace(",", "").toUpperCase(Locale.ROOT);
        long mult = 1;
        if (t.endsWith("K")) {
            mult = 1_000;
        } else if (t.endsWith("M")) {
            mult = 1_000_000;
        }
        if (mult > 1) {
            t = t.substring(0, t.length() - 1);
        }
        try {
            // exact: a double would round 9007199254740993 and saturate 1e30 to Long.MAX_VALUE without a word
            java.math.BigDecimal v = new java.math.BigDecimal(t).multiply(java.math.BigDecimal.valueOf(mult));
            if (v.signum() < 0) {
                throw new NumberFormatException(s);
            }
            return v.longValueExact();
        } catch (ArithmeticException e) { // a fraction, or beyond a long
            throw new NumberFormatException(s);
        }
    }
}

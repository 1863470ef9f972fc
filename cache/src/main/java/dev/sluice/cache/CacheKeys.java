package dev.sluice.cache;

import dev.sluice.cache.internal.Canonical;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * Cache keys: the SHA-256 (64 hex digits) of a canonical JSON form of a request, so that requests asking the same
 * thing share a key and requests that could be answered differently never do.
 *
 * <p>The canonical form is an object of: a format version, the tenant (a hash, never the credential), the normalised
 * base URL, the route, and the whole request body except the {@linkplain Builder#ignoreFields ignored fields} (none by
 * default, so a parameter Sluice has never heard of still separates keys). Jackson writes it with object fields sorted
 * by name at every depth and no whitespace outside strings, so field order and formatting never matter. Everything
 * else does: strings compare exactly (no Unicode or whitespace normalisation inside them), array order matters,
 * {@code null} differs from an absent field, and a number differs from a string.
 *
 * <p><b>Numbers compare by value</b>: {@code 0}, {@code 0.0}, {@code -0.0} and {@code 0e5} are one number, as are
 * {@code 1}, {@code 1.0} and {@code 1E0}; {@code 0.1} and {@code 0.10000000000000001} are not (floats are read as exact
 * decimals, never through {@code double}). JSON gives a number no type or precision beyond its value, and the
 * OpenAI-compatible APIs read these fields as numbers (an integer field accepts {@code 100.0} as 100), so the spelling
 * is insignificant; the value is not.
 */
public final class CacheKeys {

    private static final HexFormat HEX = HexFormat.of();
    private static final String TENANT_DOMAIN = "sluice-tenant-v1:";

    private final Set<String> ignored;

    private CacheKeys(Set<String> ignored) {
        this.ignored = Set.copyOf(ignored);
    }

    /** Keys over the whole body. */
    public static CacheKeys standard() {
        return builder().build();
    }

    /** A builder. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The tenant of a credential: {@code sha256:} and the hex SHA-256 of a domain prefix and the credential. Provider
     * and client keys carry far more entropy than a hash can be searched for, so the hash reveals nothing usable.
     */
    public static String tenantOf(String credential) {
        Objects.requireNonNull(credential, "credential");
        if (credential.isEmpty()) {
            throw new IllegalArgumentException("credential must not be empty");
        }
        return "sha256:" + HEX.formatHex(sha256((TENANT_DOMAIN + credential).getBytes(StandardCharsets.UTF_8)));
    }

    /** The key of {@code request}: 64 lower-case hex digits. */
    public String key(CacheRequest request) {
        return HEX.formatHex(sha256(canonicalForm(request)));
    }

    /** The canonical form {@link #key} hashes, as UTF-8 JSON: for inspection and tests. */
    public byte[] canonicalForm(CacheRequest request) {
        return Canonical.requestForm(1, request.tenant(), request.baseUrl(), request.route(), request.body(), ignored);
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }

    /** Builds {@link CacheKeys}. */
    public static final class Builder {
        private final Set<String> ignored = new TreeSet<>();

        private Builder() {
        }

        /**
         * Top-level body fields that cannot change the answer and should not separate keys, for example
         * {@code user} or {@code metadata}. Only add fields you know to be insignificant.
         */
        public Builder ignoreFields(String... fields) {
            for (String f : fields) {
                ignored.add(Objects.requireNonNull(f, "field"));
            }
            return this;
        }

        /** The keys. */
        public CacheKeys build() {
            return new CacheKeys(ignored);
        }
    }
}

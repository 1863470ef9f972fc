package dev.sluice.governor;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * One API key at one provider: a member of a model's key pool. The secret is only handed to the upstream; the
 * governor's limiter keys, cooldown entries, logs and metrics use {@link #id()}, a hash. Immutable.
 */
public final class ProviderKey {

    private final String provider;
    private final String secret;
    private final @Nullable String baseUrl;
    private final String id;

    private ProviderKey(String provider, String secret, @Nullable String baseUrl) {
        this.provider = Objects.requireNonNull(provider, "provider");
        this.secret = Objects.requireNonNull(secret, "secret");
        this.baseUrl = baseUrl;
        this.id = provider + "-" + sha256(provider + "\n" + secret).substring(0, 16);
    }

    /** The key {@code secret} of {@code provider} (as named in the profiles). */
    public static ProviderKey of(String provider, String secret) {
        return new ProviderKey(provider, secret, null);
    }

    /** The key {@code secret} of {@code provider}, served at {@code baseUrl}. */
    public static ProviderKey of(String provider, String secret, String baseUrl) {
        return new ProviderKey(provider, secret, baseUrl);
    }

    /** The provider's name in the profiles. */
    public String provider() {
        return provider;
    }

    /** The API key itself: for the upstream's {@code Authorization} header only. */
    public String secret() {
        return secret;
    }

    /** Where the provider is served, if given. */
    public @Nullable String baseUrl() {
        return baseUrl;
    }

    /** A stable identifier free of the secret: the provider and a SHA-256 prefix of provider and secret. */
    public String id() {
        return id;
    }

    static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ProviderKey k && k.id.equals(id) && Objects.equals(k.baseUrl, baseUrl);
    }

    @Override
    public int hashCode() {
        return id.hashCode();
    }

    /** Never shows the secret. */
    @Override
    public String toString() {
        return "ProviderKey[" + id + (baseUrl == null ? "" : " at " + baseUrl) + "]";
    }
}

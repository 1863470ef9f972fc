package dev.sluice.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.cache.internal.Canonical;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * One LLM request as the cache sees it: who asks (a tenant, derived from the caller's credential by hashing it), where
 * it goes (the provider's base URL and the route), what it asks (the JSON body: model, messages and every parameter)
 * and the caller's {@link CallOptions}. The credential itself is never kept: only its hash.
 *
 * <pre>{@code
 * CacheRequest r = CacheRequest.builder()
 *         .credential(apiKey)
 *         .baseUrl("https://api.openai.com/v1")
 *         .route("/chat/completions")
 *         .body(requestJson)
 *         .build();
 * }</pre>
 */
public final class CacheRequest {

    private final String tenant;
    private final String baseUrl;
    private final String route;
    private final ObjectNode body;
    private final CallOptions options;

    private CacheRequest(Builder b) {
        this.tenant = Objects.requireNonNull(b.tenant, "a tenant is required: credential(...) or tenantId(...)");
        this.baseUrl = Objects.requireNonNull(b.baseUrl, "baseUrl is required");
        this.route = b.route;
        this.body = Objects.requireNonNull(b.body, "body is required");
        this.options = b.options;
    }

    /** A builder. */
    public static Builder builder() {
        return new Builder();
    }

    /** This request with other options (the key stays the same). */
    public CacheRequest withOptions(CallOptions options) {
        Builder b = new Builder();
        b.tenant = tenant;
        b.baseUrl = baseUrl;
        b.route = route;
        b.body = body;
        b.options = Objects.requireNonNull(options, "options");
        return new CacheRequest(b);
    }

    /** The tenant: {@code sha256:<hex>} of the credential, or {@code id:<id>} of an explicit tenant id. */
    public String tenant() {
        return tenant;
    }

    /** The provider's base URL, normalised (lower-case scheme and host, no default port, no trailing slash). */
    public String baseUrl() {
        return baseUrl;
    }

    /** The route under the base URL, for example {@code /chat/completions}. */
    public String route() {
        return route;
    }

    /** The request body; do not modify it. */
    public ObjectNode body() {
        return body;
    }

    /** The model the body names, or the empty string. */
    public String model() {
        JsonNode m = body.get("model");
        return m != null && m.isTextual() ? m.textValue() : "";
    }

    /** The caller's options. */
    public CallOptions options() {
        return options;
    }

    @Override
    public String toString() {
        return "CacheRequest[" + baseUrl + route + ", model " + model() + "]";
    }

    /** Builds a {@link CacheRequest}. */
    public static final class Builder {
        private @Nullable String tenant;
        private @Nullable String baseUrl;
        private String route = "/chat/completions";
        private @Nullable ObjectNode body;
        private CallOptions options = CallOptions.defaults();

        private Builder() {
        }

        /**
         * The caller's credential (API key, bearer token): only its {@linkplain CacheKeys#tenantOf hash} is kept, so
         * callers with different credentials never share entries.
         */
        public Builder credential(String credential) {
            this.tenant = CacheKeys.tenantOf(credential);
            return this;
        }

        /** An explicit tenant id instead of a credential, for callers that already know their tenant. */
        public Builder tenantId(String id) {
            Objects.requireNonNull(id, "id");
            if (id.isEmpty()) {
                throw new IllegalArgumentException("tenant id must not be empty");
            }
            this.tenant = "id:" + id;
            return this;
        }

        /**
         * The provider's base URL, for example {@code https://api.openai.com/v1}.
         *
         * @throws IllegalArgumentException unless an absolute http(s) URL
         */
        public Builder baseUrl(String baseUrl) {
            this.baseUrl = normaliseBaseUrl(baseUrl);
            return this;
        }

        /** The route under the base URL (default {@code /chat/completions}). */
        public Builder route(String route) {
            Objects.requireNonNull(route, "route");
            this.route = route.startsWith("/") ? route : "/" + route;
            return this;
        }

        /**
         * The request body, copied.
         *
         * @throws IllegalArgumentException unless a JSON object
         */
        public Builder body(JsonNode body) {
            Objects.requireNonNull(body, "body");
            if (!body.isObject()) {
                throw new IllegalArgumentException("the request body must be a JSON object, was " + body.getNodeType());
            }
            this.body = (ObjectNode) body.deepCopy();
            return this;
        }

        /**
         * The request body as JSON text (UTF-8 bytes); floats are read exactly, duplicate fields are refused.
         *
         * @throws IllegalArgumentException unless one JSON object
         */
        public Builder body(byte[] json) {
            this.body = Canonical.parseObject(json);
            return this;
        }

        /** As {@link #body(byte[])}, from text. */
        public Builder body(String json) {
            return body(json.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }

        /** The caller's options (default {@link CallOptions#defaults()}). */
        public Builder options(CallOptions options) {
            this.options = Objects.requireNonNull(options, "options");
            return this;
        }

        /** The request. */
        public CacheRequest build() {
            return new CacheRequest(this);
        }
    }

    static String normaliseBaseUrl(String baseUrl) {
        Objects.requireNonNull(baseUrl, "baseUrl");
        URI uri;
        try {
            uri = new URI(baseUrl.trim()).normalize();
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("baseUrl is not a URL", e);
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null) {
            throw new IllegalArgumentException("baseUrl must be an absolute http(s) URL");
        }
        if (uri.getRawUserInfo() != null) {
            throw new IllegalArgumentException("baseUrl must not carry credentials");
        }
        int port = uri.getPort();
        boolean defaultPort = port == -1 || (scheme.equals("http") && port == 80) || (scheme.equals("https") && port == 443);
        String path = uri.getRawPath() == null ? "" : uri.getRawPath();
        while (path.endsWith("/")) {
            path = path.substring(0, path.length() - 1);
        }
        String query = uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery();
        return scheme + "://" + uri.getHost().toLowerCase(Locale.ROOT) + (defaultPort ? "" : ":" + port) + path + query;
    }
}

package dev.sluice.governor.langchain4j;

import dev.langchain4j.http.client.HttpClientBuilder;
import dev.sluice.governor.Governor;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;

/**
 * Builds a {@link GovernedHttpClient}. Every setter returns this builder, as langchain4j's model builders chain them
 * ({@code connectTimeout(..).readTimeout(..).build()}).
 */
public final class GovernedHttpClientBuilder implements HttpClientBuilder {

    private static final AtomicReference<@Nullable Governor> DEFAULT = new AtomicReference<>();

    private @Nullable Governor governor;
    private @Nullable Duration connectTimeout;
    private @Nullable Duration readTimeout;

    /** A builder with the {@linkplain #setDefaultGovernor default governor} (for ServiceLoader discovery). */
    public GovernedHttpClientBuilder() {
        this.governor = DEFAULT.get();
    }

    /** A builder whose clients go through {@code governor}. */
    public GovernedHttpClientBuilder(Governor governor) {
        this.governor = governor;
    }

    /**
     * The governor that builders created by langchain4j's ServiceLoader discovery
     * ({@link GovernedHttpClientBuilderFactory}) use.
     */
    public static void setDefaultGovernor(@Nullable Governor governor) {
        DEFAULT.set(governor);
    }

    /** The governor of the clients built. */
    public GovernedHttpClientBuilder governor(Governor governor) {
        this.governor = governor;
        return this;
    }

    @Override
    public @Nullable Duration connectTimeout() {
        return connectTimeout;
    }

    @Override
    public GovernedHttpClientBuilder connectTimeout(@Nullable Duration timeout) {
        this.connectTimeout = timeout;
        return this;
    }

    @Override
    public @Nullable Duration readTimeout() {
        return readTimeout;
    }

    @Override
    public GovernedHttpClientBuilder readTimeout(@Nullable Duration timeout) {
        this.readTimeout = timeout;
        return this;
    }

    /**
     * The client.
     *
     * @throws IllegalStateException if no governor was given and no default is set
     */
    @Override
    public GovernedHttpClient build() {
        Governor g = governor;
        if (g == null) {
            throw new IllegalStateException("no governor: pass one to GovernedHttpClientBuilder, or call"
                    + " GovernedHttpClientBuilder.setDefaultGovernor(governor) before langchain4j builds its client");
        }
        return new GovernedHttpClient(g, connectTimeout == null ? Duration.ofSeconds(15) : connectTimeout,
                readTimeout == null ? Duration.ofSeconds(60) : readTimeout);
    }
}

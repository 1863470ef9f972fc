package dev.sluice.governor.langchain4j;

import dev.langchain4j.http.client.HttpClientBuilderFactory;

/**
 * langchain4j's ServiceLoader entry: builders with the {@linkplain GovernedHttpClientBuilder#setDefaultGovernor
 * default governor}. When another HTTP client (such as {@code langchain4j-http-client-jdk}, which
 * {@code langchain4j-open-ai} brings) is also present, langchain4j asks for a choice: set the system property
 * {@code langchain4j.http.clientBuilderFactory} to this class's name, or pass a {@link GovernedHttpClientBuilder} to
 * the model's builder.
 */
public final class GovernedHttpClientBuilderFactory implements HttpClientBuilderFactory {

    @Override
    public GovernedHttpClientBuilder create() {
        return new GovernedHttpClientBuilder();
    }
}

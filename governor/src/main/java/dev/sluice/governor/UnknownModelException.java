package dev.sluice.governor;

/** No profile names the model and its provider declares no explicit default: the governor refuses to guess. */
public final class UnknownModelException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    /** For {@code provider}/{@code model}, listing what is known. */
    public UnknownModelException(String provider, String model, String known) {
        super("no profile for model '" + model + "' of provider '" + provider + "' and the provider declares no"
                + " 'default' profile; known: " + known + ". Add the model to your profiles (or a 'default' entry"
                + " under the provider) rather than running it unlimited.");
    }
}

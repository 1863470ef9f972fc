package dev.sluice.gateway;

/** A configuration that cannot be used; the message names the field at fault and never holds a secret. */
public final class GatewayConfigException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** An error about the field the message names. */
    public GatewayConfigException(String message) {
        super(message);
    }
}

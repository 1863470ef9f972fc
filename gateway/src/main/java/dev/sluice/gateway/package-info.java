/**
 * The Sluice gateway: an OpenAI-compatible HTTP proxy that applies Sluice's limits to any client. {@link
 * dev.sluice.gateway.Gateway} runs one instance from a {@link dev.sluice.gateway.GatewayConfig}; {@link
 * dev.sluice.gateway.GatewayMain} is the command-line launcher; {@link dev.sluice.gateway.GatewayConfigParser} reads
 * and validates the YAML file. Instances on the same Redis or Hazelcast backend share every quota.
 */
@NullMarked
package dev.sluice.gateway;

import org.jspecify.annotations.NullMarked;

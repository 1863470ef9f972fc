package dev.sluice.cache.internal;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/** The canonical JSON form behind cache keys, and the strict parser for request and response bodies. */
public final class Canonical {

    /** Floats as exact decimals, duplicate fields refused, nothing after the value. */
    public static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();
    private static final JsonFactory FACTORY = MAPPER.getFactory();

    private Canonical() {
    }

    /**
     * Parses one JSON object.
     *
     * @throws IllegalArgumentException unless {@code json} is exactly one JSON object without duplicate fields
     */
    public static ObjectNode parseObject(byte[] json) {
        JsonNode node;
        try {
            node = MAPPER.readTree(json);
        } catch (IOException e) {
            throw new IllegalArgumentException("not valid JSON, or a field appears twice", e);
        }
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException("the JSON must be an object");
        }
        return (ObjectNode) node;
    }

    /** The canonical form of a request's parts, as UTF-8 JSON. */
    public static byte[] requestForm(int version, String tenant, String baseUrl, String route, ObjectNode body,
            Set<String> ignoredBodyFields) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            // Fields in sorted order, written by hand: base, body, route, tenant, v.
            g.writeStartObject();
            g.writeStringField("base", baseUrl);
            g.writeFieldName("body");
            writeObject(g, body, ignoredBodyFields);
            g.writeStringField("route", route);
            g.writeStringField("tenant", tenant);
            g.writeNumberField("v", version);
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static void write(JsonGenerator g, JsonNode node) throws IOException {
        switch (node.getNodeType()) {
            case OBJECT -> writeObject(g, node, Set.of());
            case ARRAY -> {
                g.writeStartArray();
                for (JsonNode e : node) {
                    write(g, e);
                }
                g.writeEndArray();
            }
            case STRING -> g.writeString(node.textValue());
            case NUMBER -> g.writeNumber(number(node));
            case BOOLEAN -> g.writeBoolean(node.booleanValue());
            case NULL -> g.writeNull();
            case BINARY -> g.writeBinary(node.binaryValue());
            default -> g.writeString(node.asText()); // POJO / MISSING do not occur in parsed JSON
        }
    }

    private static void writeObject(JsonGenerator g, JsonNode node, Set<String> ignored) throws IOException {
        List<String> names = new ArrayList<>(node.size());
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!ignored.contains(name)) {
                names.add(name);
            }
        }
        names.sort(null); // UTF-16 code-unit order: total and stable
        g.writeStartObject();
        for (String name : names) {
            g.writeFieldName(name);
            write(g, node.get(name));
        }
        g.writeEndObject();
    }

    /** One spelling per numeric value: zero is {@code 0}, others the shortest exact {@link BigDecimal} form. */
    static String number(JsonNode node) {
        if ((node.isDouble() || node.isFloat()) && !Double.isFinite(node.doubleValue())) {
            return node.asText(); // NaN and infinities exist only in hand-built trees: kept apart from every number
        }
        BigDecimal d = node.decimalValue();
        return d.signum() == 0 ? "0" : d.stripTrailingZeros().toString();
    }
}

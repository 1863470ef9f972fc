package dev.sluice.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.cache.internal.Canonical;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;

class CacheKeysTest {

    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final CacheKeys KEYS = CacheKeys.standard();
    private static final int PAIRS = 10_000;

    /** A random chat request body, unique through {@code index}. */
    static ObjectNode randomBody(Random r, int index) {
        ObjectNode b = F.objectNode();
        b.put("model", List.of("gpt-4o-mini", "gpt-4o", "llama-3.1-8b", "gemini-2.0-flash").get(r.nextInt(4)));
        ArrayNode messages = b.putArray("messages");
        int n = 1 + r.nextInt(4);
        for (int i = 0; i < n; i++) {
            ObjectNode m = messages.addObject();
            m.put("role", i == 0 && r.nextBoolean() ? "system" : (i % 2 == 0 ? "user" : "assistant"));
            m.put("content", "message " + index + "/" + i + " " + Long.toHexString(r.nextLong()) + " ünïcødé {x}\n");
        }
        b.put("temperature", r.nextInt(3) == 0 ? 0 : r.nextInt(20) / 10.0);
        if (r.nextBoolean()) {
            b.put("top_p", r.nextInt(10) / 10.0 + 0.1);
        }
        if (r.nextBoolean()) {
            b.put("max_tokens", 16 + r.nextInt(2000));
        }
        if (r.nextBoolean()) {
            b.put("seed", r.nextInt(1000));
        }
        if (r.nextBoolean()) {
            b.putArray("stop").add("\n\n").add("END");
        }
        if (r.nextBoolean()) {
            ObjectNode tool = b.putArray("tools").addObject();
            tool.put("type", "function");
            ObjectNode fn = tool.putObject("function");
            fn.put("name", "get_weather");
            ObjectNode params = fn.putObject("parameters");
            params.put("type", "object");
            params.putObject("properties").putObject("city").put("type", "string");
            b.put("tool_choice", "auto");
        }
        if (r.nextBoolean()) {
            b.putObject("response_format").put("type", "json_object");
        }
        if (r.nextInt(4) == 0) {
            b.put("n", 1 + r.nextInt(3));
        }
        return b;
    }

    static CacheRequest request(String credential, String baseUrl, String route, JsonNode body) {
        return CacheRequest.builder().credential(credential).baseUrl(baseUrl).route(route).body(body).build();
    }

    private static CacheRequest request(JsonNode body) {
        return request("sk-test", "https://api.openai.com/v1", "/chat/completions", body);
    }

    /** One significant change to a copy of {@code body}, chosen at random; describes it. */
    private static String mutate(Random r, ObjectNode b) {
        List<String> fields = new ArrayList<>();
        b.fieldNames().forEachRemaining(fields::add);
        switch (r.nextInt(12)) {
            case 0 -> {
                b.put("model", b.get("model").textValue() + "-2");
                return "model";
            }
            case 1 -> {
                ObjectNode m = (ObjectNode) b.get("messages").get(0);
                String c = m.get("content").textValue();
                int at = r.nextInt(c.length());
                m.put("content", c.substring(0, at) + (char) (c.charAt(at) ^ 1) + c.substring(at + 1));
                return "one character of a message";
            }
            case 2 -> {
                ObjectNode m = (ObjectNode) b.get("messages").get(0);
                m.put("role", m.get("role").textValue().equals("user") ? "system" : "user");
                return "role";
            }
            case 3 -> {
                b.put("temperature", b.get("temperature").decimalValue().add(new BigDecimal("0.05")));
                return "temperature";
            }
            case 4 -> {
                b.put("max_tokens", b.path("max_tokens").asInt(100) + 1);
                return "max_tokens";
            }
            case 5 -> {
                b.put("seed", b.path("seed").asInt(-1) + 1);
                return "seed";
            }
            case 6 -> {
                if (b.has("stop")) {
                    ((ArrayNode) b.get("stop")).add("STOP");
                } else {
                    b.put("stop", "STOP");
                }
                return "stop";
            }
            case 7 -> {
                b.put("tool_choice", b.path("tool_choice").asText("auto").equals("auto") ? "none" : "auto");
                return "tool_choice";
            }
            case 8 -> {
                b.putObject("response_format").put("type", b.has("response_format") ? "text" : "json_object");
                return "response_format";
            }
            case 9 -> {
                b.put("n", b.path("n").asInt(1) + 1);
                return "n";
            }
            case 10 -> {
                ArrayNode messages = (ArrayNode) b.get("messages");
                messages.addObject().put("role", "user").put("content", "");
                return "an extra (empty) message";
            }
            default -> {
                b.put("presence_penalty", r.nextInt(5) / 10.0 + 0.1);
                return "a parameter Sluice does not know";
            }
        }
    }

    @Test
    void tenThousandPairsDifferingInOneSignificantFieldGiveDifferentKeys() {
        long seed = System.nanoTime();
        Random r = new Random(seed);
        Set<String> originals = new HashSet<>();
        Set<String> changed = new HashSet<>();
        for (int i = 0; i < PAIRS; i++) {
            ObjectNode a = randomBody(r, i);
            ObjectNode b = a.deepCopy();
            String what = mutate(r, b);
            String ka = KEYS.key(request(a));
            String kb = KEYS.key(request(b));
            assertThat(kb).as("seed %d, pair %d: changing %s must change the key\n%s\n%s", seed, i, what, a, b)
                    .isNotEqualTo(ka);
            originals.add(ka);
            changed.add(kb);
        }
        assertThat(changed).as("seed %d", seed).hasSize(PAIRS);
        assertThat(originals).as("seed %d", seed).hasSize(PAIRS);
    }

    @Test
    void tenThousandPairsDifferingOnlyInFieldOrderAndWhitespaceGiveEqualKeys() {
        long seed = System.nanoTime();
        Random r = new Random(seed);
        for (int i = 0; i < PAIRS; i++) {
            ObjectNode a = randomBody(r, i);
            String compact = a.toString();
            String shuffled = writeShuffled(r, a);
            CacheRequest ra = CacheRequest.builder().credential("sk-test").baseUrl("https://api.openai.com/v1")
                    .body(compact).build();
            CacheRequest rb = CacheRequest.builder().credential("sk-test").baseUrl("https://api.openai.com/v1")
                    .body(shuffled).build();
            assertThat(KEYS.key(rb)).as("seed %d, pair %d:\n%s\n%s", seed, i, compact, shuffled)
                    .isEqualTo(KEYS.key(ra));
        }
    }

    /** {@code node} as JSON text with every object's fields in random order and random whitespace between tokens. */
    private static String writeShuffled(Random r, JsonNode node) {
        StringBuilder out = new StringBuilder();
        write(r, node, out);
        return ws(r) + out + ws(r);
    }

    private static void write(Random r, JsonNode node, StringBuilder out) {
        if (node.isObject()) {
            List<Map.Entry<String, JsonNode>> fields = new ArrayList<>(node.properties());
            java.util.Collections.shuffle(fields, r);
            out.append('{').append(ws(r));
            for (int i = 0; i < fields.size(); i++) {
                if (i > 0) {
                    out.append(ws(r)).append(',').append(ws(r));
                }
                out.append(F.textNode(fields.get(i).getKey())).append(ws(r)).append(':').append(ws(r));
                write(r, fields.get(i).getValue(), out);
            }
            out.append(ws(r)).append('}');
        } else if (node.isArray()) {
            out.append('[').append(ws(r));
            for (int i = 0; i < node.size(); i++) {
                if (i > 0) {
                    out.append(ws(r)).append(',').append(ws(r));
                }
                write(r, node.get(i), out);
            }
            out.append(ws(r)).append(']');
        } else {
            out.append(node);
        }
    }

    private static String ws(Random r) {
        String[] pieces = {"", "", " ", "\n", "\t", "\r\n", "  "};
        return pieces[r.nextInt(pieces.length)] + pieces[r.nextInt(pieces.length)];
    }

    @Test
    void numbersCompareByValueNotSpelling() {
        BiConsumer<String, String> same = (x, y) -> assertThat(key("{\"model\":\"m\",\"temperature\":" + x + "}"))
                .as("%s vs %s", x, y).isEqualTo(key("{\"model\":\"m\",\"temperature\":" + y + "}"));
        BiConsumer<String, String> different = (x, y) -> assertThat(key("{\"model\":\"m\",\"temperature\":" + x + "}"))
                .as("%s vs %s", x, y).isNotEqualTo(key("{\"model\":\"m\",\"temperature\":" + y + "}"));
        same.accept("0", "0.0");
        same.accept("0", "-0.0");
        same.accept("0", "0e5");
        same.accept("1", "1.0");
        same.accept("1", "1E0");
        same.accept("100", "1e2");
        same.accept("0.5", "0.50");
        different.accept("0.1", "0.10000000000000001");
        different.accept("0", "\"0\"");
        different.accept("0", "null");
        different.accept("1", "true");
        different.accept("12345678901234567890", "12345678901234567891");
    }

    @Test
    void nullDiffersFromAbsentAndArrayOrderMatters() {
        assertThat(key("{\"model\":\"m\",\"seed\":null}")).isNotEqualTo(key("{\"model\":\"m\"}"));
        assertThat(key("{\"stop\":[\"a\",\"b\"]}")).isNotEqualTo(key("{\"stop\":[\"b\",\"a\"]}"));
        assertThat(key("{\"m\":\"a b\"}")).isNotEqualTo(key("{\"m\":\"a  b\"}"));
        assertThat(key("{\"m\":\"\\u00e9\"}")).isEqualTo(key("{\"m\":\"é\"}"));
        assertThat(key("{\"m\":\"e\\u0301\"}")).as("no Unicode normalisation").isNotEqualTo(key("{\"m\":\"é\"}"));
    }

    @Test
    void tenantBaseUrlAndRouteSeparateKeys() {
        JsonNode body = Canonical.parseObject("{\"model\":\"m\",\"temperature\":0}".getBytes(StandardCharsets.UTF_8));
        String k = KEYS.key(request("sk-a", "https://api.openai.com/v1", "/chat/completions", body));
        assertThat(KEYS.key(request("sk-b", "https://api.openai.com/v1", "/chat/completions", body))).isNotEqualTo(k);
        assertThat(KEYS.key(request("sk-a", "https://api.groq.com/openai/v1", "/chat/completions", body)))
                .isNotEqualTo(k);
        assertThat(KEYS.key(request("sk-a", "https://api.openai.com/v1", "/completions", body))).isNotEqualTo(k);
        assertThat(KEYS.key(request("sk-a", "HTTPS://API.OpenAI.com:443/v1/", "chat/completions", body)))
                .as("normalised base URL and route").isEqualTo(k);
        CacheRequest byId = CacheRequest.builder().tenantId("sk-a").baseUrl("https://api.openai.com/v1").body(body)
                .build();
        assertThat(KEYS.key(byId)).as("an id never equals a credential's hash").isNotEqualTo(k);
    }

    @Test
    void ignoredFieldsDoNotSeparateKeys() {
        CacheKeys keys = CacheKeys.builder().ignoreFields("user").build();
        String a = keys.key(request(Canonical.parseObject("{\"model\":\"m\",\"user\":\"alice\"}"
                .getBytes(StandardCharsets.UTF_8))));
        String b = keys.key(request(Canonical.parseObject("{\"model\":\"m\",\"user\":\"bob\"}"
                .getBytes(StandardCharsets.UTF_8))));
        assertThat(a).isEqualTo(b);
        assertThat(KEYS.key(request(Canonical.parseObject("{\"model\":\"m\",\"user\":\"alice\"}"
                .getBytes(StandardCharsets.UTF_8))))).as("significant by default").isNotEqualTo(
                KEYS.key(request(Canonical.parseObject("{\"model\":\"m\",\"user\":\"bob\"}"
                        .getBytes(StandardCharsets.UTF_8)))));
    }

    @Test
    void theCanonicalFormHoldsTheTenantHashNeverTheCredential() {
        String credential = "sk-canary-7f3a9c1e5b";
        CacheRequest r = request(credential, "https://api.openai.com/v1", "/chat/completions",
                F.objectNode().put("model", "m"));
        String form = new String(KEYS.canonicalForm(r), StandardCharsets.UTF_8);
        assertThat(form).doesNotContain(credential).contains(CacheKeys.tenantOf(credential));
        assertThat(r.toString()).doesNotContain(credential);
        assertThat(KEYS.key(r)).matches("[0-9a-f]{64}");
        assertThat(form).isEqualTo("{\"base\":\"https://api.openai.com/v1\",\"body\":{\"model\":\"m\"},"
                + "\"route\":\"/chat/completions\",\"tenant\":\"" + CacheKeys.tenantOf(credential) + "\",\"v\":1}");
    }

    @Test
    void badBodiesAreRefused() {
        assertThatThrownBy(() -> CacheRequest.builder().body("{\"a\":1,\"a\":2}"))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> CacheRequest.builder().body("[1]")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> CacheRequest.builder().body("{} {}")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> CacheRequest.builder().baseUrl("https://user:sk-x@api.example.com"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageNotContaining("sk-x");
        assertThatThrownBy(() -> CacheRequest.builder().baseUrl("ftp://x")).isInstanceOf(IllegalArgumentException.class);
    }

    private static String key(String json) {
        return KEYS.key(request(Canonical.parseObject(json.getBytes(StandardCharsets.UTF_8))));
    }
}

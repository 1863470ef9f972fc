package dev.sluice.governor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class TokenEstimatorTest {

    private final TokenEstimator estimator = new TokenEstimator();
    private final ProviderProfiles profiles = ProviderProfiles.fromYaml("""
            providers:
              openai:
                models:
                  gpt-4o-mini: {rpm: 10, encoding: o200k_base, defaultMaxTokens: 256}
              other:
                imageTokens: 85
                models:
                  m: {rpm: 10}
                  big-vision: {rpm: 10, imageTokens: 48169}
            """);

    @Test
    @DisplayName("With jtokkit: OpenAI's chat formula on the model's encoding")
    void jtokkit() {
        ChatRequest r = ChatRequest.fromOpenAiJson("{\"model\":\"gpt-4o-mini\",\"max_tokens\":50,\"messages\":["
                + "{\"role\":\"system\",\"content\":\"You are terse.\"},{\"role\":\"user\",\"content\":\"Say hello\"}]}");
        ModelProfile p = profiles.model("openai", "gpt-4o-mini");
        assertThat(estimator.promptTokens(p, r)).isEqualTo(3 + (3 + 1 + 4) + (3 + 1 + 2));
        assertThat(estimator.maxOutputTokens(p, r)).isEqualTo(50);
        assertThat(estimator.maxOutputTokens(p, ChatRequest.of("gpt-4o-mini", List.of(), null))).isEqualTo(256);
    }

    @Test
    @DisplayName("max_tokens and max_completion_tokens both set: the larger is reserved, whichever it is")
    void bothOutputLimits() {
        ModelProfile p = profiles.model("openai", "gpt-4o-mini");
        for (String fields : List.of("\"max_tokens\":10,\"max_completion_tokens\":500",
                "\"max_tokens\":500,\"max_completion_tokens\":10")) {
            ChatRequest r = ChatRequest.fromOpenAiJson("{\"model\":\"gpt-4o-mini\"," + fields + ",\"messages\":[]}");
            assertThat(estimator.maxOutputTokens(p, r)).as(fields).isEqualTo(500);
        }
    }

    @Test
    @DisplayName("n answers reserve n times the output; an n that is not a positive integer is refused, naming it")
    void choices() {
        ModelProfile p = profiles.model("openai", "gpt-4o-mini");
        assertThat(estimator.maxOutputTokens(p, ChatRequest.fromOpenAiJson(
                "{\"model\":\"gpt-4o-mini\",\"n\":3,\"max_tokens\":100,\"messages\":[]}"))).isEqualTo(300);
        assertThat(estimator.maxOutputTokens(p, ChatRequest.fromOpenAiJson(
                "{\"model\":\"gpt-4o-mini\",\"n\":2,\"messages\":[]}"))).as("the default, twice").isEqualTo(512);
        assertThat(estimator.maxOutputTokens(p, ChatRequest.fromOpenAiJson(
                "{\"model\":\"gpt-4o-mini\",\"n\":null,\"max_tokens\":100,\"messages\":[]}"))).isEqualTo(100);
        assertThat(estimator.maxOutputTokens(p, new ChatRequest("gpt-4o-mini", List.of(), Long.MAX_VALUE / 2, false,
                null, 3, null))).as("beyond a long").isEqualTo(Long.MAX_VALUE);
        for (String n : List.of("0", "-1", "1.5", "\"2\"", "3000000000")) {
            assertThatThrownBy(() -> ChatRequest.fromOpenAiJson("{\"model\":\"gpt-4o-mini\",\"n\":" + n
                    + ",\"messages\":[]}")).as(n).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'n'");
        }
    }

    @Test
    @DisplayName("Tool and function definitions count as prompt tokens (their JSON), in the governor's and the raw "
            + "estimate alike")
    void tools() throws Exception {
        ModelProfile p = profiles.model("openai", "gpt-4o-mini");
        String tools = "[{\"type\":\"function\",\"function\":{\"name\":\"weather\",\"description\":"
                + "\"The weather in a city, today or on a day of the coming week\",\"parameters\":{\"type\":"
                + "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}]";
        String plain = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
        ChatRequest without = ChatRequest.fromOpenAiJson(plain + "}");
        ChatRequest with = ChatRequest.fromOpenAiJson(plain + ",\"tools\":" + tools + "}");
        long toolTokens = com.knuddels.jtokkit.Encodings.newDefaultEncodingRegistry()
                .getEncoding("o200k_base").orElseThrow().countTokens(tools);
        assertThat(toolTokens).isGreaterThan(20);
        assertThat(estimator.promptTokens(p, with) - estimator.promptTokens(p, without)).isEqualTo(toolTokens);
        com.fasterxml.jackson.databind.JsonNode raw = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(plain + ",\"functions\":" + tools + "}");
        assertThat(TokenEstimator.toolTokens("o200k_base", raw)).isEqualTo(toolTokens);
    }

    @Test
    @DisplayName("Each image part of a chat message counts as the tokens given for an image; its URL or base64 data "
            + "is not counted as text")
    void images() throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        String image = "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,"
                + "A".repeat(3000) + "\",\"detail\":\"high\"}}";
        com.fasterxml.jackson.databind.JsonNode textOnly = json.readTree(
                "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is in these?\"}]}]");
        com.fasterxml.jackson.databind.JsonNode twoImages = json.readTree(
                "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is in these?\"},"
                        + image + "," + image + "]}]");
        long text = TokenEstimator.chatPromptTokens("o200k_base", textOnly);
        assertThat(text).isLessThan(20);
        assertThat(TokenEstimator.chatPromptTokens("o200k_base", twoImages, 765)).isEqualTo(text + 2 * 765);
        assertThat(TokenEstimator.chatPromptTokens(null, twoImages, 765))
                .isEqualTo(TokenEstimator.chatPromptTokens(null, textOnly) + 2 * 765);
        assertThat(TokenEstimator.chatPromptTokens("o200k_base", twoImages)).as("the old form counts none")
                .isEqualTo(text);
        assertThatThrownBy(() -> TokenEstimator.chatPromptTokens("o200k_base", twoImages, Long.MAX_VALUE))
                .isInstanceOf(ArithmeticException.class);

        // the governor's typed request: image parts counted as the profile says, 1,445 unless it says otherwise
        String body = "{\"model\":\"m\",\"messages\":" + twoImages + "}";
        ChatRequest withImages = ChatRequest.fromOpenAiJson(body);
        ChatRequest without = ChatRequest.fromOpenAiJson("{\"model\":\"m\",\"messages\":" + textOnly + "}");
        assertThat(withImages.images()).isEqualTo(2);
        assertThat(withImages.messages()).isEqualTo(without.messages());
        ModelProfile gpt = profiles.model("openai", "gpt-4o-mini");
        assertThat(gpt.imageTokens()).isEqualTo(ModelProfile.DEFAULT_IMAGE_TOKENS);
        assertThat(estimator.promptTokens(gpt, withImages)).isEqualTo(estimator.promptTokens(gpt, without) + 2 * 1445);
        ModelProfile inherited = profiles.model("other", "m");
        assertThat(estimator.promptTokens(inherited, withImages))
                .isEqualTo(estimator.promptTokens(inherited, without) + 2 * 85);
        ModelProfile own = profiles.model("other", "big-vision");
        assertThat(estimator.promptTokens(own, withImages))
                .isEqualTo(estimator.promptTokens(own, without) + 2 * 48169);
    }

    @Test
    @DisplayName("Without an encoding: one token per 3 UTF-8 bytes, above jtokkit's count for English and CJK")
    void conservative() {
        String english = "The quick brown fox jumps over the lazy dog, again and again, until the sun sets.";
        String cjk = "速い茶色の狐が怠け者の犬を飛び越える";
        ModelProfile exact = profiles.model("openai", "gpt-4o-mini");
        ModelProfile rough = profiles.model("other", "m");
        for (String text : List.of(english, cjk)) {
            ChatRequest r = ChatRequest.of("m", List.of(ChatRequest.Message.of("user", text)), 10L);
            assertThat(estimator.promptTokens(rough, r)).as(text).isGreaterThanOrEqualTo(estimator.promptTokens(exact, r));
        }
        assertThat(TokenEstimator.conservative("abcd")).isEqualTo(2);
    }

    @Test
    @DisplayName("Raw chat JSON (as the gateway sees it): the same count for text messages, plus content parts and tool "
            + "calls; completions and embeddings inputs by string, strings or token ids")
    void rawJson() throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        String body = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
                + "{\"role\":\"user\",\"content\":\"Say hello\"}]}";
        ModelProfile p = profiles.model("openai", "gpt-4o-mini");
        assertThat(TokenEstimator.openAiEncoding("gpt-4o-mini")).isEqualTo("o200k_base");
        assertThat(TokenEstimator.openAiEncoding("gpt-3.5-turbo")).isEqualTo("cl100k_base");
        assertThat(TokenEstimator.chatPromptTokens("o200k_base", json.readTree(body).get("messages")))
                .isEqualTo(estimator.promptTokens(p, ChatRequest.fromOpenAiJson(body)));
        var parts = json.readTree("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Say hello\"}]},"
                + "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\"}]}]");
        long withoutTools = 3 + (3 + 1 + 2) + (3 + 1);
        assertThat(TokenEstimator.chatPromptTokens("o200k_base", parts)).isGreaterThan(withoutTools);
        assertThat(TokenEstimator.textTokens("o200k_base", json.readTree("\"Say hello\""))).isEqualTo(2);
        assertThat(TokenEstimator.textTokens("o200k_base", json.readTree("[\"Say hello\", [1, 2, 3], 7]"))).isEqualTo(6);
        assertThat(TokenEstimator.textTokens(null, json.readTree("\"abcd\""))).isEqualTo(2);
    }

    @Test
    @DisplayName("A Responses API request by the chat formula: instructions as a system message, a string input as a "
            + "user message, message items as messages with input_image parts as imageTokens, other items as their "
            + "JSON text")
    void responsesApi() throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        long chat = TokenEstimator.chatPromptTokens("o200k_base", json.readTree("[{\"role\":\"system\","
                + "\"content\":\"You are terse.\"},{\"role\":\"user\",\"content\":\"Say hello\"}]"));
        assertThat(chat).isEqualTo(3 + (3 + 1 + 4) + (3 + 1 + 2));
        assertThat(TokenEstimator.responsesInputTokens("o200k_base", json.readTree("{\"model\":\"gpt-4o\","
                + "\"instructions\":\"You are terse.\",\"input\":\"Say hello\"}"), 0)).isEqualTo(chat);
        String items = "{\"input\":[{\"role\":\"system\",\"content\":\"You are terse.\"},{\"type\":\"message\","
                + "\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"Say hello\"}%s]}%s]}";
        assertThat(TokenEstimator.responsesInputTokens("o200k_base", json.readTree(items.formatted("", "")), 0))
                .isEqualTo(chat);
        String image = ",{\"type\":\"input_image\",\"image_url\":\"data:image/png;base64," + "A".repeat(3000)
                + "\"}";
        assertThat(TokenEstimator.responsesInputTokens("o200k_base", json.readTree(items.formatted(image + image,
                "")), 765)).isEqualTo(chat + 2 * 765);
        String output = ",{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"" + "word "
                .repeat(50) + "\"}";
        assertThat(TokenEstimator.responsesInputTokens("o200k_base", json.readTree(items.formatted("", output)), 0))
                .isGreaterThan(chat + 50);
        assertThat(TokenEstimator.responsesInputTokens(null, json.readTree("{\"input\":\"abcd\"}"), 0))
                .as("without an encoding, 3 bytes a token").isEqualTo(3 + 3 + 2 + 2);
        assertThat(TokenEstimator.responsesInputTokens("o200k_base", json.readTree("{\"previous_response_id\":"
                + "\"resp_1\"}"), 0)).as("nothing in the request to count").isEqualTo(3);
        assertThatThrownBy(() -> TokenEstimator.responsesInputTokens("o200k_base", json.readTree(
                items.formatted(image + image, "")), Long.MAX_VALUE)).isInstanceOf(ArithmeticException.class);
    }
}

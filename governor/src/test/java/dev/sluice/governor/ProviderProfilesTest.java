package dev.sluice.governor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.api.Algorithm;
import dev.sluice.api.Limit;
import dev.sluice.api.Policy;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalTime;
import java.time.ZoneId;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class ProviderProfilesTest {

    @Test
    @DisplayName("The shipped profiles load, each provider names its page and the date its numbers were read")
    void builtIn() {
        ProviderProfiles p = ProviderProfiles.builtIn();
        assertThat(p.providers()).contains("groq", "gemini");
        ModelProfile groq = p.model("groq", "llama-3.1-8b-instant");
        assertThat(groq.requests()).isEqualTo(30);
        assertThat(groq.requestsPerDay()).isEqualTo(14_400);
        assertThat(groq.tokens()).isEqualTo(6000);
        assertThat(groq.tokensPerDay()).isEqualTo(500_000);
        assertThat(groq.dialect()).isEqualTo(HeaderDialect.GROQ);
        assertThat(groq.source()).startsWith("https://");
        assertThat(groq.read()).isNotBlank();
        ModelProfile gemini = p.model("gemini", "gemini-2.0-flash");
        assertThat(gemini.dailyReset()).isEqualTo(DailyReset.at(LocalTime.MIDNIGHT, ZoneId.of("America/Los_Angeles")));
        assertThat(gemini.adaptive()).as("no headers: adaptive by default").isTrue();
        for (String provider : p.providers()) {
            ModelProfile any = provider.equals("local-openai-compatible") ? p.model(provider, "x")
                    : p.model(provider, provider.equals("groq") ? "llama-3.1-8b-instant" : "gemini-2.0-flash");
            assertThat(any.source()).as(provider).isNotBlank();
        }
    }

    @Test
    @DisplayName("An unknown model is a clear error, or the provider's explicit default; never unlimited")
    void unknownModel() {
        ProviderProfiles p = ProviderProfiles.builtIn();
        assertThatThrownBy(() -> p.model("groq", "no-such-model"))
                .isInstanceOf(UnknownModelException.class)
                .hasMessageContaining("no-such-model").hasMessageContaining("groq/llama-3.1-8b-instant");
        assertThatThrownBy(() -> p.model("nobody", "m")).isInstanceOf(UnknownModelException.class);
        ModelProfile d = p.model("local-openai-compatible", "my-model");
        assertThat(d.model()).isEqualTo("my-model");
        assertThat(d.requests()).isEqualTo(60);
        assertThat(d.concurrent()).isEqualTo(4);
        assertThatThrownBy(() -> ProviderProfiles.fromYaml("providers:\n  x:\n    models:\n      m: {}\n"))
                .hasMessageContaining("x/m").hasMessageContaining("unlimited");
    }

    @Test
    @DisplayName("User profiles override the shipped ones; models inherit provider settings; errors name the key")
    void overrides() {
        ProviderProfiles mine = ProviderProfiles.fromYaml("""
                providers:
                  groq:
                    dialect: groq
                    window: 1s
                    guard: 50ms
                    models:
                      llama-3.1-8b-instant: {rpm: 3, tpm: 14.4K, concurrent: 2, leaseTtl: 30s}
                """);
        ProviderProfiles p = ProviderProfiles.builtIn().overriddenBy(mine);
        ModelProfile m = p.model("groq", "llama-3.1-8b-instant");
        assertThat(m.requests()).isEqualTo(3);
        assertThat(m.tokens()).isEqualTo(14_400);
        assertThat(m.window()).isEqualTo(Duration.ofSeconds(1));
        assertThat(p.model("groq", "llama-3.3-70b-versatile").requests()).as("others kept").isEqualTo(30);
        Policy policy = m.policy();
        assertThat(policy.limits()).containsExactly(
                Limit.of("requests", 3, Duration.ofMillis(1050), Algorithm.SLIDING_LOG),
                Limit.of("tokens", 14_400, Duration.ofMillis(1050), Algorithm.SLIDING_LOG),
                Limit.of("concurrent", 2, Duration.ofSeconds(30), Algorithm.SLIDING_LOG));

        assertThatThrownBy(() -> ProviderProfiles.fromYaml("providers:\n  a:\n    models:\n      m: {rpm: lots}\n"))
                .hasMessageContaining("a/m").hasMessageContaining("rpm");
        assertThatThrownBy(() -> ProviderProfiles.fromYaml("providers:\n  a:\n    dailyReset: noonish\n"
                + "    models:\n      m: {rpm: 1}\n")).hasMessageContaining("dailyReset");
        assertThatThrownBy(() -> ProviderProfiles.fromYaml("providers:\n  a:\n    dialect: smoke\n"
                + "    models:\n      m: {rpm: 1}\n")).hasMessageContaining("dialect");
        assertThatThrownBy(() -> ProviderProfiles.fromYaml("nothing: here")).hasMessageContaining("providers");
    }

    @Test
    @DisplayName("chargesMaxTokens: false unless set, inherited from the provider, and anything but true or false is"
            + " an error naming the key (as is a mistyped adaptive), never a silent default")
    void chargesMaxTokens() {
        ProviderProfiles p = ProviderProfiles.fromYaml("""
                providers:
                  openai:
                    chargesMaxTokens: true
                    models:
                      m: {rpm: 10}
                      n: {rpm: 10, chargesMaxTokens: false}
                  other:
                    models:
                      m: {rpm: 10}
                """);
        assertThat(p.model("openai", "m").chargesMaxTokens()).isTrue();
        assertThat(p.model("openai", "n").chargesMaxTokens()).isFalse();
        assertThat(p.model("other", "m").chargesMaxTokens()).isFalse();
        assertThat(p.model("openai", "m").withWindowLimits(5, 0).chargesMaxTokens()).as("kept when learning").isTrue();
        assertThatThrownBy(() -> ProviderProfiles.fromYaml("providers:\n  a:\n    chargesMaxTokens: yes-please\n"
                + "    models:\n      m: {rpm: 1}\n")).hasMessageContaining("a/m")
                .hasMessageContaining("chargesMaxTokens");
        assertThatThrownBy(() -> ProviderProfiles.fromYaml("providers:\n  a:\n    models:\n"
                + "      m: {rpm: 1, adaptive: 1}\n")).hasMessageContaining("adaptive");
    }

    @Test
    @DisplayName("Counts are exact whole numbers within a long: a number beyond one is refused, never truncated or"
            + " rounded")
    void countsAreExact() {
        String yaml = "providers:\n  a:\n    models:\n      m: {rpm: 10, tpm: %s}\n";
        // 2^64 + 85 would read as 85 through JsonNode.asLong(); 1e30 would saturate through a double
        for (String big : new String[] {"18446744073709551701", "'18446744073709551701'", "'1e30'", "'2.5'",
            "-3", "'-3'"}) {
            assertThatThrownBy(() -> ProviderProfiles.fromYaml(yaml.formatted(big))).as(big)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("a/m").hasMessageContaining("'tpm' must be a whole number from 0 to "
                            + Long.MAX_VALUE);
        }
        assertThat(ProviderProfiles.fromYaml(yaml.formatted("'9007199254740993'")).model("a", "m").tokens())
                .as("exact past a double's 53 bits").isEqualTo(9_007_199_254_740_993L);
        assertThat(ProviderProfiles.fromYaml(yaml.formatted("1.5M")).model("a", "m").tokens()).isEqualTo(1_500_000);
        // limits whose sum wraps to exactly 0 are still limits, not "no limit at all"
        assertThat(ProviderProfiles.fromYaml("providers:\n  a:\n    models:\n      m: {rpm: 9223372036854775807,"
                + " tpm: 9223372036854775807, itpm: 2}\n").model("a", "m").inputTokens()).isEqualTo(2);
        assertThat(ProviderProfiles.fromYaml(yaml.formatted("'1,000,000'")).model("a", "m").tokens())
                .isEqualTo(1_000_000);
    }

    @Test
    @DisplayName("Daily limits: a fixed UTC-midnight window, otherwise a rolling day; big limits use counters")
    void dailyLimits() {
        ProviderProfiles p = ProviderProfiles.fromYaml("""
                providers:
                  utc:
                    dailyReset: "00:00 UTC"
                    models:
                      m: {rpm: 10, rpd: 100, tpd: 2000000}
                  pacific:
                    dailyReset: "00:00 America/Los_Angeles"
                    models:
                      m: {rpd: 100}
                """);
        List<Limit> utc = p.model("utc", "m").policy().limits();
        assertThat(utc).contains(Limit.of("requests", 100, Duration.ofDays(1), Algorithm.FIXED_WINDOW),
                Limit.of("tokens", 2_000_000, Duration.ofDays(1), Algorithm.FIXED_WINDOW));
        ModelProfile pacific = p.model("pacific", "m");
        assertThat(pacific.policy().limit(0).algorithm()).isEqualTo(Algorithm.SLIDING_LOG);
        Instant now = Instant.parse("2026-11-28T20:00:00Z"); // 12:00 in Los Angeles
        assertThat(pacific.dailyReset().nextAfter(now)).isEqualTo(Instant.parse("2026-11-29T08:00:00Z"));
        assertThat(DailyReset.parse("rolling").nextAfter(now)).isEqualTo(now.plus(Duration.ofDays(1)));
    }
}

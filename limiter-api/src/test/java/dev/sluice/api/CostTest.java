package dev.sluice.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CostTest {

    @Test
    void ofNamesOneDimension() {
        Cost c = Cost.of("images", 3);
        assertThat(c.size()).isEqualTo(1);
        assertThat(c.dimension(0)).isEqualTo("images");
        assertThat(c.units(0)).isEqualTo(3);
        assertThat(c.units("images")).isEqualTo(3);
    }

    @Test
    void shortcuts() {
        assertThat(Cost.request().units("requests")).isEqualTo(1);
        assertThat(Cost.request().size()).isEqualTo(1);
        assertThat(Cost.requests(4).units("requests")).isEqualTo(4);
        assertThat(Cost.tokens(1200).units("tokens")).isEqualTo(1200);
        assertThat(Cost.tokens(1200).size()).isEqualTo(1);
        assertThat(Cost.requests(1)).isEqualTo(Cost.request()).isEqualTo(Cost.of("requests", 1));
    }

    @Test
    void unitsOfAnUnnamedDimensionAreZero() {
        Cost c = Cost.tokens(5);
        assertThat(c.units("requests")).isZero();
        assertThat(c.units("anything")).isZero();
    }

    @ParameterizedTest
    @ValueSource(longs = {0, -1, -1000})
    void nonPositiveUnitsAreRejectedAndNamed(long units) {
        assertThatThrownBy(() -> Cost.of("tokens", units))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'tokens'")
                .hasMessageContaining("was " + units);
        assertThatThrownBy(() -> Cost.request().and("tokens", units))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'tokens'")
                .hasMessageContaining("was " + units);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "two words", "a/b"})
    void malformedDimensionsAreRejectedAndNamed(String dimension) {
        assertThatThrownBy(() -> Cost.of(dimension, 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'" + dimension + "'");
        assertThatThrownBy(() -> Cost.request().and(dimension, 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'" + dimension + "'");
    }

    @Test
    void andAddsADimensionInOrder() {
        Cost c = Cost.request().and("tokens", 1200).and("images", 2);
        assertThat(c.size()).isEqualTo(3);
        assertThat(c.dimension(0)).isEqualTo("requests");
        assertThat(c.dimension(1)).isEqualTo("tokens");
        assertThat(c.dimension(2)).isEqualTo("images");
        assertThat(c.units(0)).isEqualTo(1);
        assertThat(c.units(1)).isEqualTo(1200);
        assertThat(c.units(2)).isEqualTo(2);
        assertThat(c.units("tokens")).isEqualTo(1200);
        assertThat(c.units("images")).isEqualTo(2);
    }

    @Test
    void andLeavesTheOriginalUnchanged() {
        Cost base = Cost.tokens(10);
        Cost more = base.and("requests", 1);
        assertThat(base.size()).isEqualTo(1);
        assertThat(base.units("requests")).isZero();
        assertThat(more.size()).isEqualTo(2);

        // the shared one-request constant must not be altered either
        Cost.request().and("tokens", 7);
        assertThat(Cost.request().size()).isEqualTo(1);
        assertThat(Cost.request().units("tokens")).isZero();
    }

    @Test
    void andRefusesADimensionTwice() {
        assertThatThrownBy(() -> Cost.tokens(5).and("tokens", 6))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'tokens'")
                .hasMessageContaining("twice");
        assertThatThrownBy(() -> Cost.request().and("tokens", 1).and("requests", 2))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'requests'");
    }

    @Test
    void equalityIgnoresOrder() {
        Cost a = Cost.request().and("tokens", 1200);
        Cost b = Cost.tokens(1200).and("requests", 1);
        assertThat(a).isEqualTo(b).hasSameHashCodeAs(b);
        assertThat(b).isEqualTo(a);
    }

    @Test
    void differentCostsAreNotEqual() {
        Cost a = Cost.request().and("tokens", 1200);
        assertThat(a).isNotEqualTo(Cost.request().and("tokens", 1201));
        assertThat(a).isNotEqualTo(Cost.requests(2).and("tokens", 1200));
        assertThat(a).isNotEqualTo(Cost.request());
        assertThat(Cost.request()).isNotEqualTo(a);
        assertThat(a).isNotEqualTo(Cost.request().and("images", 1200));
        assertThat(Cost.tokens(5)).isNotEqualTo(Cost.of("images", 5));
        assertThat(a).isNotEqualTo(null);
        assertThat(a).isNotEqualTo("Cost{requests=1, tokens=1200}");
    }

    @Test
    void toStringListsUnits() {
        assertThat(Cost.request().and("tokens", 1200)).hasToString("Cost{requests=1, tokens=1200}");
    }
}

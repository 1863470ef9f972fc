package dev.sluice.api;

import java.util.Arrays;

/**
 * The units one call needs on each dimension, for example 1 {@code request} and 1,200 {@code tokens}. A dimension
 * that a cost does not name costs nothing. Immutable.
 */
public final class Cost {

    private static final Cost ONE_REQUEST = new Cost(new String[] {"requests"}, new long[] {1});

    private final String[] dimensions;
    private final long[] units;

    private Cost(String[] dimensions, long[] units) {
        this.dimensions = dimensions;
        this.units = units;
    }

    /**
     * A cost of {@code units} on {@code dimension}.
     *
     * @throws IllegalArgumentException if the dimension is malformed or the units are not positive
     */
    public static Cost of(String dimension, long units) {
        Limit.checkDimension(dimension);
        checkUnits(dimension, units);
        if (units == 1 && dimension.equals("requests")) {
            return ONE_REQUEST;
        }
        return new Cost(new String[] {dimension}, new long[] {units});
    }

    /** One unit of {@code requests}. */
    public static Cost request() {
        return ONE_REQUEST;
    }

    /** {@code units} of {@code requests}. */
    public static Cost requests(long units) {
        return of("requests", units);
    }

    /** {@code units} of {@code tokens}. */
    public static Cost tokens(long units) {
        return of("tokens", units);
    }

    /**
     * This cost plus {@code units} on another dimension.
     *
     * @throws IllegalArgumentException if the dimension is malformed or already present, or the units are not
     *     positive
     */
    public Cost and(String dimension, long amount) {
        Limit.checkDimension(dimension);
        checkUnits(dimension, amount);
        for (String d : dimensions) {
            if (d.equals(dimension)) {
                throw new IllegalArgumentException("cost names dimension '" + dimension + "' twice");
            }
        }
        String[] d = Arrays.copyOf(dimensions, dimensions.length + 1);
        long[] u = Arrays.copyOf(units, units.length + 1);
        d[dimensions.length] = dimension;
        u[units.length] = amount;
        return new Cost(d, u);
    }

    /** The units on {@code dimension}, 0 if this cost does not name it. */
    public long units(String dimension) {
        for (int i = 0; i < dimensions.length; i++) {
            if (dimensions[i] == dimension || dimensions[i].equals(dimension)) { // the same instance, the usual case
                return units[i];
            }
        }
        return 0;
    }

    /** The number of dimensions named. */
    public int size() {
        return dimensions.length;
    }

    /** The dimension at {@code index}. */
    public String dimension(int index) {
        return dimensions[index];
    }

    /** The units at {@code index}. */
    public long units(int index) {
        return units[index];
    }

    private static void checkUnits(String dimension, long units) {
        if (units < 1) {
            throw new IllegalArgumentException("cost on '" + dimension + "' must be positive, was " + units);
        }
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Cost c) || c.dimensions.length != dimensions.length) {
            return false;
        }
        for (int i = 0; i < dimensions.length; i++) {
            if (c.units(dimensions[i]) != units[i]) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int hashCode() {
        int h = 0;
        for (int i = 0; i < dimensions.length; i++) {
            h += dimensions[i].hashCode() ^ Long.hashCode(units[i]);
        }
        return h;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Cost{");
        for (int i = 0; i < dimensions.length; i++) {
            sb.append(i == 0 ? "" : ", ").append(dimensions[i]).append('=').append(units[i]);
        }
        return sb.append('}').toString();
    }
}

package dev.sluice.gateway.internal;

import io.vertx.core.buffer.Buffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Cuts a server-sent event stream, arriving in pieces of any size, into whole events (each with the blank line that
 * ends it: {@code \n\n} or {@code \n\r\n}). The bytes of an unfinished event are searched once, not again with every
 * piece that extends it: an event of {@code n} bytes in {@code k} pieces costs {@code O(n)}, not {@code O(n k)} (a
 * Responses stream's last event repeats the whole answer).
 */
final class SseSplitter {

    private Buffer pending = Buffer.buffer();
    /** How far {@link #pending} has been searched for an event's end without finding one. */
    private int searched;

    /** Appends {@code piece}; returns the events it completes, in order (often none). */
    List<Buffer> feed(Buffer piece) {
        pending.appendBuffer(piece);
        List<Buffer> events = List.of();
        int from = 0;
        while (true) {
            int end = eventEnd(pending, Math.max(from, searched));
            if (end < 0) {
                break;
            }
            if (events.isEmpty()) {
                events = new ArrayList<>(2);
            }
            events.add(pending.getBuffer(from, end));
            from = end;
        }
        if (from > 0) {
            pending = pending.getBuffer(from, pending.length());
        }
        // an end not found may still begin in the last two bytes, once more arrive
        searched = Math.max(0, pending.length() - 2);
        return events;
    }

    /** The bytes of an unfinished event (empty if none). */
    Buffer rest() {
        return pending;
    }

    /** The end (exclusive) of the first event that ends at or after {@code from}, or -1. */
    private static int eventEnd(Buffer b, int from) {
        int n = b.length();
        for (int i = from; i + 1 < n; i++) {
            if (b.getByte(i) == '\n') {
                if (b.getByte(i + 1) == '\n') {
                    return i + 2;
                }
                if (b.getByte(i + 1) == '\r' && i + 2 < n && b.getByte(i + 2) == '\n') {
                    return i + 3;
                }
            }
        }
        return -1;
    }
}

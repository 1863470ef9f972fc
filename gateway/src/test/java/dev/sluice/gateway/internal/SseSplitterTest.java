package dev.sluice.gateway.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.buffer.Buffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class SseSplitterTest {

    @Test
    @DisplayName("A stream cut into pieces of any size (one byte, or a blank line split across two) gives back its "
            + "events whole and in order, each with its own blank line (\\n\\n or \\r\\n\\r\\n), and keeps an "
            + "unfinished last event as the rest; 2,000 seeded streams")
    void eventsWholeWhateverThePieces() {
        for (long seed = 0; seed < 2_000; seed++) {
            Random r = new Random(seed);
            List<String> events = new ArrayList<>();
            StringBuilder stream = new StringBuilder();
            int count = r.nextInt(6);
            for (int i = 0; i < count; i++) {
                String event = event(r) + (r.nextBoolean() ? "\n\n" : "\r\n\r\n");
                events.add(event);
                stream.append(event);
            }
            String unfinished = r.nextInt(3) == 0 ? "" : event(r) + (r.nextBoolean() ? "\n" : "\r\n");
            stream.append(unfinished);
            byte[] bytes = stream.toString().getBytes(StandardCharsets.UTF_8);

            SseSplitter splitter = new SseSplitter();
            List<String> got = new ArrayList<>();
            int at = 0;
            while (at < bytes.length) {
                int n = Math.min(bytes.length - at, r.nextInt(4) == 0 ? 1 : 1 + r.nextInt(40));
                for (Buffer e : splitter.feed(Buffer.buffer().appendBytes(bytes, at, n))) {
                    got.add(e.toString(StandardCharsets.UTF_8));
                }
                at += n;
            }
            assertThat(got).as("seed %d", seed).isEqualTo(events);
            assertThat(splitter.rest().toString(StandardCharsets.UTF_8)).as("seed %d", seed).isEqualTo(unfinished);
        }
    }

    /** An event's lines without its ending blank line: single line breaks inside, of either kind. */
    private static String event(Random r) {
        StringBuilder b = new StringBuilder();
        int lines = 1 + r.nextInt(3);
        for (int i = 0; i < lines; i++) {
            if (i > 0) {
                b.append(r.nextBoolean() ? "\n" : "\r\n");
            }
            b.append(r.nextBoolean() ? "data: " : "event: ");
            int len = r.nextInt(r.nextInt(10) == 0 ? 3_000 : 60);
            for (int j = 0; j < len; j++) {
                b.append((char) ('a' + r.nextInt(26)));
            }
        }
        return b.toString();
    }
}

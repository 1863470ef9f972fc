package dev.sluice.cache.internal;

import dev.sluice.cache.LlmResponse;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.jspecify.annotations.Nullable;

/**
 * The bytes a cached answer is stored as: a magic byte and version, when it was stored and when it expires (epoch
 * milliseconds of the writer's clock), the status, the content type and the body. Nothing else: no request, no
 * header, no credential.
 *
 * @param storedAtMillis when it was stored
 * @param expiresAtMillis when it expires
 * @param response the answer
 */
public record Envelope(long storedAtMillis, long expiresAtMillis, LlmResponse response) {

    private static final int MAGIC = 0x53; // 'S'
    private static final int VERSION = 1;
    private static final int TOMBSTONE = 0x54; // 'T', in the version's place: a reader of version 1 sees a miss

    /**
     * The bytes of a tombstone, which a leader that stored no answer leaves in the answer's place for a short while:
     * the callers that waited on its flight on other instances then go upstream at once rather than lead in turn.
     */
    public static byte[] tombstone() {
        return new byte[] {MAGIC, TOMBSTONE};
    }

    /** Whether {@code bytes} are a {@linkplain #tombstone() tombstone}. */
    public static boolean isTombstone(byte[] bytes) {
        return bytes.length == 2 && bytes[0] == MAGIC && bytes[1] == TOMBSTONE;
    }

    /** The stored bytes. */
    public byte[] encode() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(response.body().length + 64);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeByte(MAGIC);
            out.writeByte(VERSION);
            out.writeLong(storedAtMillis);
            out.writeLong(expiresAtMillis);
            out.writeInt(response.status());
            out.writeUTF(response.contentType());
            out.writeInt(response.body().length);
            out.write(response.body());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** The envelope in {@code bytes}, or null if they are not one this version wrote (then the entry is a miss). */
    public static @Nullable Envelope decode(byte[] bytes) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
            if (in.readUnsignedByte() != MAGIC || in.readUnsignedByte() != VERSION) {
                return null;
            }
            long storedAt = in.readLong();
            long expiresAt = in.readLong();
            int status = in.readInt();
            String contentType = in.readUTF();
            int length = in.readInt();
            if (length < 0 || length > bytes.length) {
                return null;
            }
            byte[] body = in.readNBytes(length);
            if (body.length != length) {
                return null;
            }
            return new Envelope(storedAt, expiresAt, new LlmResponse(status, contentType, body));
        } catch (IOException e) {
            return null;
        }
    }
}

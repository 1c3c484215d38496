package ferrolake.conformance;

import com.amazonaws.athena.connector.lambda.data.Block;
import com.amazonaws.athena.connector.lambda.data.BlockAllocator;
import com.amazonaws.athena.connector.lambda.data.BlockAllocatorImpl;
import com.amazonaws.athena.connector.lambda.udf.UserDefinedFunctionRequest;
import com.amazonaws.athena.connector.lambda.udf.UserDefinedFunctionResponse;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ferrolake's compress, decompress, encrypt and decrypt against athena-udfs' (the oracle,
 * {@link AthenaUdfsReference}) on the same request bytes: compress outputs byte-identical, each
 * side's decompress reads the other's output, ciphertexts from each side decrypt on the other
 * with the same Secrets Manager key (moto), NULL and empty handling and what fails alike.
 * Where the two may answer differently, the difference is listed in {@link #KNOWN_DIFFERENCES}
 * with the reason (and the README's conformance notes); any other difference fails.
 */
class AthenaUdfsOracleTest
{
    /** AWS's published vectors (athena-udfs' tests and README). */
    static final String VECTOR_TEXT = "StringToBeCompressed";
    static final String VECTOR_COMPRESSED = "eJwLLinKzEsPyXdKdc7PLShKLS5OTQEAUrEH9w==";
    static final String VECTOR_KEY = "i5YnyBO4gJKWuIQ+gjuJjcJ/5kUph9pmYFUbW7zf3PE=";
    static final String VECTOR_CIPHERTEXT = "G/VP2sbMb7d4zE2HVl2XkiB5xUHpszlEjccEBsTVji209IaCjg==";

    /** Cases where ferrolake and AWS's handler are expected to differ, and why. */
    static final Map<String, String> KNOWN_DIFFERENCES = Map.of(
            "encrypt: NULL secret name",
            "athena-udfs looks a NULL secret name up and fails the query; ferrolake returns NULL",
            "decrypt: NULL secret name",
            "athena-udfs looks a NULL secret name up and fails the query; ferrolake returns NULL",
            "decompress: compress('')",
            "athena-udfs fails on the empty-text stream (its inflate loop reads 'no bytes out, no input left' as "
                    + "truncated before it checks for the end); ferrolake returns ''",
            "decompress: not UTF-8 eda080",
            "bytes that are not UTF-8 become U+FFFD: Java replaces the encoded surrogate ED A0 80 with one, "
                    + "ferrolake (Rust's from_utf8_lossy, Unicode's recommended practice) with three; Java never "
                    + "writes such bytes, so nothing athena-udfs compressed or encrypted is affected");

    static final Field VARCHAR_OUT = Sdk.field("out", ArrowType.Utf8.INSTANCE);

    /** One side's answer: the values, or why the call failed. */
    record Outcome(List<Object> values, String error)
    {
        boolean failed()
        {
            return error != null;
        }

        @Override
        public String toString()
        {
            return failed() ? "fails (" + error.lines().findFirst().orElse("") + ")" : "returns " + Sdk.show(values);
        }
    }

    static byte[] request(ObjectMapper mapper, BlockAllocator allocator, String method, List<?>... columns)
    {
        List<Field> fields = new ArrayList<>();
        for (int i = 0; i < columns.length; i++) {
            fields.add(Sdk.field("col" + i, ArrowType.Utf8.INSTANCE));
        }
        Block block = Sdk.block(allocator, new Schema(fields), columns);
        UserDefinedFunctionRequest request = Sdk.request(block, VARCHAR_OUT, method);
        return Sdk.serialize(mapper, request);
    }

    static Outcome ferrolake(String method, List<?>... columns)
    {
        try (BlockAllocator allocator = new BlockAllocatorImpl()) {
            ObjectMapper mapper = Sdk.mapper(allocator);
            LocalLambda.Invocation invocation = LocalLambda.get().invoke(LocalLambda.ATHENA_UDF, request(mapper, allocator, method, columns));
            if (invocation.functionError().isPresent()) {
                return new Outcome(null, Sdk.decodeError(mapper, invocation).getMessage());
            }
            UserDefinedFunctionResponse response = Sdk.decodeUdf(mapper, invocation);
            return new Outcome(Sdk.strictValues(response.getRecords()), null);
        }
    }

    static Outcome aws(String method, List<?>... columns)
    {
        try (BlockAllocator allocator = new BlockAllocatorImpl()) {
            ObjectMapper mapper = Sdk.mapper(allocator);
            JavaHandlers.Answer answer = JavaHandlers.call(new AthenaUdfsReference(Moto.secretsManager()),
                    request(mapper, allocator, method, columns));
            if (answer.failed()) {
                Throwable cause = answer.error();
                StringBuilder why = new StringBuilder(String.valueOf(cause));
                while (cause.getCause() != null && cause.getCause() != cause) {
                    cause = cause.getCause();
                    why.append(" <- ").append(cause);
                }
                return new Outcome(null, why.toString());
            }
            UserDefinedFunctionResponse response = (UserDefinedFunctionResponse) Sdk.decode(mapper, answer.response());
            return new Outcome(Sdk.strictValues(response.getRecords()), null);
        }
    }

    static List<Object> values(Object... values)
    {
        return new ArrayList<>(Arrays.asList(values));
    }

    static List<Object> repeat(Object value, int n)
    {
        List<Object> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(value);
        }
        return out;
    }

    /** Texts both sides must treat alike: NULL, empty, short, Unicode, large, incompressible. */
    static List<Object> texts()
    {
        Random random = new Random(22);
        StringBuilder noise = new StringBuilder();
        for (int i = 0; i < 300_000; i++) {
            noise.append((char) (' ' + random.nextInt(95)));
        }
        StringBuilder words = new StringBuilder();
        String[] vocabulary = {"Zürich", "Tōkyō", "event", "🚀", "catalog", "ß", "漢字", "\t", "\n", "{\"k\":1}"};
        for (int i = 0; i < 200_000; i++) {
            words.append(vocabulary[random.nextInt(vocabulary.length)]).append(' ');
        }
        // "" is not here: athena-udfs cannot decompress it (see decompressEdgeCases).
        return values(null, "a", VECTOR_TEXT, "ünïcødé 🚀 \u0000 nul", "aaaa".repeat(250_000),
                noise.toString(), words.toString(), null);
    }

    @Test
    void the_oracle_reproduces_aws_published_vectors()
    {
        AthenaUdfsReference reference = new AthenaUdfsReference(Moto.secretsManager());
        assertEquals(VECTOR_COMPRESSED, reference.compress(VECTOR_TEXT));
        assertEquals(VECTOR_TEXT, reference.decompress(VECTOR_COMPRESSED));
        String key = Moto.secret("vector-key", VECTOR_KEY);
        assertEquals("plaintext", reference.decrypt(VECTOR_CIPHERTEXT, key));
        // And ferrolake, through the SDK, on the same vectors.
        assertEquals(values(VECTOR_COMPRESSED), ferrolake("compress", values(VECTOR_TEXT)).values());
        assertEquals(values("plaintext"), ferrolake("decrypt", values(VECTOR_CIPHERTEXT), values(key)).values());
    }

    @Test
    void compress_is_byte_identical()
    {
        List<Object> in = texts();
        Outcome ours = ferrolake("compress", in);
        Outcome theirs = aws("compress", in);
        assertFalse(ours.failed(), ours::toString);
        assertFalse(theirs.failed(), theirs::toString);
        Sdk.assertSameValues(theirs.values(), ours.values(), "compress: ferrolake vs athena-udfs");

        // A batch of many small rows, as Athena sends them.
        List<Object> rows = new ArrayList<>();
        for (int i = 0; i < 5_000; i++) {
            rows.add(i % 97 == 0 ? null : "user-" + i + "@example.com|" + "x".repeat(i % 50));
        }
        Sdk.assertSameValues(aws("compress", rows).values(), ferrolake("compress", rows).values(), "5000 rows");
    }

    @Test
    void each_side_decompresses_the_other_sides_output()
    {
        List<Object> in = texts();
        List<Object> ourCompressed = ferrolake("compress", in).values();
        List<Object> theirCompressed = aws("compress", in).values();
        Outcome theirsOfOurs = aws("decompress", ourCompressed);
        Outcome oursOfTheirs = ferrolake("decompress", theirCompressed);
        assertFalse(theirsOfOurs.failed(), theirsOfOurs::toString);
        assertFalse(oursOfTheirs.failed(), oursOfTheirs::toString);
        Sdk.assertSameValues(in, theirsOfOurs.values(), "athena-udfs decompress(ferrolake compress)");
        Sdk.assertSameValues(in, oursOfTheirs.values(), "ferrolake decompress(athena-udfs compress)");

        // zlib streams of other levels and strategies (what other writers produce) read alike.
        String text = TypeMatrixTest.longText(200_000);
        List<Object> streams = new ArrayList<>();
        int[][] settings = {{0, Deflater.DEFAULT_STRATEGY}, {1, Deflater.DEFAULT_STRATEGY}, {9, Deflater.DEFAULT_STRATEGY},
                {6, Deflater.FILTERED}, {6, Deflater.HUFFMAN_ONLY}};
        for (int[] s : settings) {
            streams.add(Base64.getEncoder().encodeToString(deflate(text.getBytes(StandardCharsets.UTF_8), s[0], s[1], false)));
        }
        Outcome ours = ferrolake("decompress", streams);
        Outcome theirs = aws("decompress", streams);
        assertFalse(ours.failed(), ours::toString);
        assertFalse(theirs.failed(), theirs::toString);
        Sdk.assertSameValues(theirs.values(), ours.values(), "other zlib levels and strategies");
        Sdk.assertSameValues(repeat(text, settings.length), ours.values(), "other zlib levels and strategies");
    }

    static byte[] deflate(byte[] input, int level, int strategy, boolean raw)
    {
        Deflater deflater = new Deflater(level, raw);
        deflater.setStrategy(strategy);
        deflater.setInput(input);
        deflater.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] chunk = new byte[8192];
        while (!deflater.finished()) {
            out.write(chunk, 0, deflater.deflate(chunk));
        }
        deflater.end();
        return out.toByteArray();
    }

    static String b64(byte[] bytes)
    {
        return Base64.getEncoder().encodeToString(bytes);
    }

    static byte[] zlib(byte[] bytes)
    {
        return deflate(bytes, Deflater.DEFAULT_COMPRESSION, Deflater.DEFAULT_STRATEGY, false);
    }

    static byte[] gzip(byte[] bytes)
    {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
                gz.write(bytes);
            }
            return out.toByteArray();
        }
        catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One-row decompress inputs whose handling (value, or failing the call) must match. */
    static Map<String, List<Object>> decompressEdgeCases()
    {
        byte[] vector = Base64.getDecoder().decode(VECTOR_COMPRESSED);
        Map<String, List<Object>> cases = new LinkedHashMap<>();
        cases.put("decompress: NULL", values((Object) null));
        cases.put("decompress: compress('')", values("eJwDAAAAAAE="));
        for (int n : new int[]{4095, 4096, 4097, 8192, 12288, 40960}) {
            cases.put("decompress: compress(" + n + " x 'a')", values(b64(zlib("a".repeat(n).getBytes(StandardCharsets.UTF_8)))));
        }
        cases.put("decompress: compress(4096 bytes of noise)", values(b64(zlib(noise(4096)))));
        cases.put("decompress: empty string", values(""));
        cases.put("decompress: not base64", values("not base64!"));
        cases.put("decompress: athena-udfs test input (not base64)", values("jklasdfjklasdjfklasdjfklasdjklfjasdklfjasdklfjasdk"));
        cases.put("decompress: hex with spaces", values("78 da 0b 2e 29 ca cc 4b"));
        cases.put("decompress: base64 without padding", values(VECTOR_COMPRESSED.replace("=", "")));
        cases.put("decompress: base64 with a line break", values(VECTOR_COMPRESSED.substring(0, 20) + "\n" + VECTOR_COMPRESSED.substring(20)));
        cases.put("decompress: base64url alphabet", values(b64(zlib(new byte[]{(byte) 0xfb, (byte) 0xff, (byte) 0xfe})).replace('+', '-').replace('/', '_')));
        cases.put("decompress: non-zero trailing bits", values(VECTOR_COMPRESSED.replace("9w==", "9x==")));
        cases.put("decompress: valid base64, not zlib", values("aGVsbG8gd29ybGQ="));
        cases.put("decompress: truncated stream", values(b64(Arrays.copyOf(vector, vector.length - 6))));
        cases.put("decompress: bytes after the stream", values(b64(concat(vector, "junk".getBytes(StandardCharsets.UTF_8)))));
        cases.put("decompress: two streams back to back", values(b64(concat(vector, vector))));
        cases.put("decompress: raw deflate (no zlib header)", values(b64(deflate(VECTOR_TEXT.getBytes(StandardCharsets.UTF_8), 6, 0, true))));
        cases.put("decompress: gzip", values(b64(gzip(VECTOR_TEXT.getBytes(StandardCharsets.UTF_8)))));
        cases.put("decompress: bad adler32", values(b64(flipLast(vector))));
        cases.put("decompress: preset dictionary", values(b64(withDictionary(VECTOR_TEXT.getBytes(StandardCharsets.UTF_8)))));
        // Bytes that are not UTF-8: both sides substitute U+FFFD, the question is how many.
        byte[][] notUtf8 = {
                {(byte) 0xff}, {'a', (byte) 0xc3}, {(byte) 0xc0, (byte) 0xaf}, {(byte) 0xed, (byte) 0xa0, (byte) 0x80},
                {(byte) 0xf0, (byte) 0x9f, (byte) 0x98}, {(byte) 0xf4, (byte) 0x90, (byte) 0x80, (byte) 0x80},
                {(byte) 0xe2, (byte) 0x28, (byte) 0xa1}, {(byte) 0xf8, (byte) 0x88, (byte) 0x80, (byte) 0x80, (byte) 0x80},
                {(byte) 0x80, (byte) 0xbf, 'z'}, {(byte) 0xe0, (byte) 0x80, (byte) 0xaf},
        };
        for (byte[] bytes : notUtf8) {
            cases.put("decompress: not UTF-8 " + hex(bytes), values(b64(zlib(bytes))));
        }
        return cases;
    }

    static byte[] noise(int n)
    {
        byte[] out = new byte[n];
        Random random = new Random(n);
        for (int i = 0; i < n; i++) {
            out[i] = (byte) (' ' + random.nextInt(95));
        }
        return out;
    }

    static String hex(byte[] bytes)
    {
        StringBuilder out = new StringBuilder();
        for (byte b : bytes) {
            out.append(String.format("%02x", b));
        }
        return out.toString();
    }

    static byte[] concat(byte[] a, byte[] b)
    {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static byte[] flipLast(byte[] bytes)
    {
        byte[] out = bytes.clone();
        out[out.length - 1] ^= 0x01;
        return out;
    }

    static byte[] withDictionary(byte[] input)
    {
        Deflater deflater = new Deflater();
        deflater.setDictionary("String".getBytes(StandardCharsets.UTF_8));
        deflater.setInput(input);
        deflater.finish();
        byte[] out = new byte[256];
        int n = deflater.deflate(out);
        deflater.end();
        return Arrays.copyOf(out, n);
    }

    /** Runs every case on both sides; fails listing every unexpected difference. */
    static void compare(Map<String, List<List<?>>> cases, String method)
    {
        List<String> unexpected = new ArrayList<>();
        List<String> noLongerDifferent = new ArrayList<>();
        for (Map.Entry<String, List<List<?>>> c : cases.entrySet()) {
            List<?>[] columns = c.getValue().toArray(new List<?>[0]);
            Outcome ours = ferrolake(method, columns);
            Outcome theirs = aws(method, columns);
            boolean same = ours.failed() == theirs.failed() && (ours.failed() || Sdk.same(ours.values(), theirs.values()));
            boolean known = KNOWN_DIFFERENCES.containsKey(c.getKey());
            if (!same && !known) {
                unexpected.add(c.getKey() + ": ferrolake " + ours + ", athena-udfs " + theirs);
            }
            if (same && known) {
                noLongerDifferent.add(c.getKey());
            }
        }
        assertTrue(unexpected.isEmpty(), () -> "ferrolake and athena-udfs differ:\n  " + String.join("\n  ", unexpected));
        assertTrue(noLongerDifferent.isEmpty(), () -> "no longer different (update KNOWN_DIFFERENCES and the README): " + noLongerDifferent);
    }

    @Test
    void decompress_edge_cases_succeed_or_fail_alike()
    {
        Map<String, List<List<?>>> cases = new LinkedHashMap<>();
        decompressEdgeCases().forEach((name, column) -> cases.put(name, List.of(column)));
        compare(cases, "decompress");
    }

    @Test
    void ciphertexts_from_each_side_decrypt_on_the_other()
    {
        byte[] raw = new byte[32];
        new SecureRandom().nextBytes(raw);
        String key = Moto.secret("aes-key", Base64.getEncoder().encodeToString(raw));
        List<Object> in = texts();
        List<Object> keys = repeat(key, in.size());

        Outcome ours = ferrolake("encrypt", in, keys);
        Outcome theirs = aws("encrypt", in, keys);
        assertFalse(ours.failed(), ours::toString);
        assertFalse(theirs.failed(), theirs::toString);
        for (int row = 0; row < in.size(); row++) {
            Object a = ours.values().get(row);
            Object b = theirs.values().get(row);
            assertEquals(a == null, b == null, "row " + row + ": NULL alike");
            if (a != null) {
                assertEquals(((String) b).length(), ((String) a).length(), "row " + row + ": IV ‖ ciphertext ‖ tag, same length");
                assertFalse(a.equals(b), "row " + row + ": a fresh random IV on each side");
            }
        }
        Sdk.assertSameValues(in, aws("decrypt", ours.values(), keys).values(), "athena-udfs decrypt(ferrolake encrypt)");
        Sdk.assertSameValues(in, ferrolake("decrypt", theirs.values(), keys).values(), "ferrolake decrypt(athena-udfs encrypt)");
        // Each side also reads its own.
        Sdk.assertSameValues(in, ferrolake("decrypt", ours.values(), keys).values(), "ferrolake round trip");
    }

    @Test
    void crypto_edge_cases_succeed_or_fail_alike()
    {
        byte[] raw = new byte[32];
        new SecureRandom().nextBytes(raw);
        String keyText = Base64.getEncoder().encodeToString(raw);
        String key = Moto.secret("aes-key", keyText);
        String otherKey = Moto.secret("other-key", Base64.getEncoder().encodeToString(new byte[32]));
        String shortKey = Moto.secret("short-key", Base64.getEncoder().encodeToString(new byte[16]));
        String notBase64Key = Moto.secret("plain-key", "not base64 at all!");
        String unpaddedKey = Moto.secret("unpadded-key", keyText.replace("=", ""));
        String keyWithNewline = Moto.secret("newline-key", keyText + "\n");
        String vectorKey = Moto.secret("vector-key", VECTOR_KEY);
        String missing = "conformance/no-such-secret";
        String sealed = new AthenaUdfsReference(Moto.secretsManager()).encrypt("card 4111", key);
        byte[] sealedBytes = Base64.getDecoder().decode(sealed);

        Map<String, List<List<?>>> encrypt = new LinkedHashMap<>();
        encrypt.put("encrypt: NULL value, missing secret", List.of(values((Object) null), values(missing)));
        encrypt.put("encrypt: NULL secret name", List.of(values("x"), values((Object) null)));
        encrypt.put("encrypt: missing secret", List.of(values("x"), values(missing)));
        encrypt.put("encrypt: 16-byte key", List.of(values("x"), values(shortKey)));
        encrypt.put("encrypt: key not base64", List.of(values("x"), values(notBase64Key)));
        encrypt.put("encrypt: key with a trailing newline", List.of(values("x"), values(keyWithNewline)));
        compare(encrypt, "encrypt");

        Map<String, List<List<?>>> decrypt = new LinkedHashMap<>();
        decrypt.put("decrypt: the README vector", List.of(values(VECTOR_CIPHERTEXT), values(vectorKey)));
        decrypt.put("decrypt: NULL value, missing secret", List.of(values((Object) null), values(missing)));
        decrypt.put("decrypt: NULL secret name", List.of(values(sealed), values((Object) null)));
        decrypt.put("decrypt: missing secret", List.of(values(sealed), values(missing)));
        decrypt.put("decrypt: wrong key", List.of(values(sealed), values(otherKey)));
        decrypt.put("decrypt: tampered tag", List.of(values(b64(flipLast(sealedBytes))), values(key)));
        decrypt.put("decrypt: empty string", List.of(values(""), values(key)));
        decrypt.put("decrypt: 11 bytes (shorter than the IV)", List.of(values(b64(new byte[11])), values(key)));
        decrypt.put("decrypt: 27 bytes (IV + less than a tag)", List.of(values(b64(new byte[27])), values(key)));
        decrypt.put("decrypt: not base64", List.of(values("!!"), values(key)));
        decrypt.put("decrypt: ciphertext without padding", List.of(values(sealed.replace("=", "")), values(key)));
        decrypt.put("decrypt: key without padding", List.of(values(sealed), values(unpaddedKey)));
        decrypt.put("decrypt: 16-byte key", List.of(values(sealed), values(shortKey)));
        decrypt.put("decrypt: key not base64", List.of(values(sealed), values(notBase64Key)));
        compare(decrypt, "decrypt");
    }

    @Test
    void a_batch_with_one_bad_row_fails_on_both_sides()
    {
        List<Object> rows = values(VECTOR_COMPRESSED, null, "not base64!", VECTOR_COMPRESSED);
        Outcome ours = ferrolake("decompress", rows);
        Outcome theirs = aws("decompress", rows);
        assertTrue(ours.failed(), ours::toString);
        assertTrue(theirs.failed(), theirs::toString);
        assertTrue(ours.error().contains("row 2"), ours.error());
    }
}

package ferrolake.conformance;

import com.amazonaws.athena.connector.lambda.data.Block;
import com.amazonaws.athena.connector.lambda.data.BlockAllocator;
import com.amazonaws.athena.connector.lambda.data.BlockAllocatorImpl;
import com.amazonaws.athena.connector.lambda.udf.UserDefinedFunctionRequest;
import com.amazonaws.athena.connector.lambda.udf.UserDefinedFunctionResponse;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.junit.jupiter.api.Test;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The production athena-udf binary's library through the SDK: each UDF's request built and
 * its response read by the SDK, every value checked (hash_pii against javax.crypto's
 * HMAC-SHA256 with the key read from the same Secrets Manager), including the ROW that
 * parse_user_agent returns, NULL rows, zero rows and a large batch.
 */
class LibraryTest
{
    static final Field VARCHAR_OUT = Sdk.field("out", ArrowType.Utf8.INSTANCE);

    static List<Object> call(String method, Field output, Field[] inputs, List<?>... columns)
    {
        try (BlockAllocator allocator = new BlockAllocatorImpl()) {
            ObjectMapper mapper = Sdk.mapper(allocator);
            Block block = Sdk.block(allocator, Sdk.schema(inputs), columns);
            UserDefinedFunctionRequest request = Sdk.request(block, output, method);
            UserDefinedFunctionResponse response = Sdk.decodeUdf(mapper,
                    LocalLambda.get().invoke(LocalLambda.ATHENA_UDF, Sdk.serialize(mapper, request)));
            return Sdk.checkedValues(response, request);
        }
    }

    static List<Object> varchar(String method, List<?>... columns)
    {
        Field[] inputs = new Field[columns.length];
        for (int i = 0; i < columns.length; i++) {
            inputs[i] = Sdk.field("col" + i, ArrowType.Utf8.INSTANCE);
        }
        return call(method, VARCHAR_OUT, inputs, columns);
    }

    static String hmac(String key, String value)
    {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            return HexFormat.of().formatHex(mac.doFinal(value.getBytes(StandardCharsets.UTF_8)));
        }
        catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void hash_pii_is_hmac_sha256_of_the_secret_for_varchar_and_bigint()
    {
        String pepper = "s3cr3t-pepper-ü";
        String secret = Moto.secret("pii-pepper", pepper);
        List<Object> emails = new ArrayList<>();
        for (int i = 0; i < 20_000; i++) {
            emails.add(i % 101 == 0 ? null : "user" + i + "@example.com");
        }
        emails.add("");
        List<Object> secrets = TypeMatrixTest.values(emails.stream().map(e -> secret).toArray());
        List<Object> expected = new ArrayList<>();
        for (Object e : emails) {
            expected.add(e == null ? null : hmac(pepper, (String) e));
        }
        Sdk.assertSameValues(expected, varchar("hash_pii", emails, secrets), "hash_pii(varchar)");

        List<Object> ids = TypeMatrixTest.values(42L, null, -1L, Long.MIN_VALUE, 0L);
        List<Object> idExpected = TypeMatrixTest.values(hmac(pepper, "42"), null, hmac(pepper, "-1"),
                hmac(pepper, Long.toString(Long.MIN_VALUE)), hmac(pepper, "0"));
        Sdk.assertSameValues(idExpected, call("hash_pii", VARCHAR_OUT,
                new Field[]{Sdk.field("col0", TypeMatrixTest.BIGINT), Sdk.field("col1", ArrowType.Utf8.INSTANCE)},
                ids, TypeMatrixTest.values(secret, secret, secret, secret, secret)), "hash_pii(bigint)");
        // A NULL secret name gives NULL.
        Sdk.assertSameValues(TypeMatrixTest.values((Object) null),
                varchar("hash_pii", TypeMatrixTest.values("x"), TypeMatrixTest.values((Object) null)), "NULL secret");
    }

    @Test
    void parse_user_agent_returns_the_declared_row()
    {
        String[] fields = {"category", "name", "version", "os", "os_version", "vendor"};
        Field[] children = new Field[fields.length];
        for (int i = 0; i < fields.length; i++) {
            children[i] = Sdk.field(fields[i], ArrowType.Utf8.INSTANCE);
        }
        Field row = TypeMatrixTest.struct("out", children);
        String chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        List<Object> out = call("parse_user_agent", row, new Field[]{Sdk.field("col0", ArrowType.Utf8.INSTANCE)},
                TypeMatrixTest.values(chrome, null, "curl-ish/0"));
        Map<String, Object> expected = TypeMatrixTest.row("category", "pc", "name", "Chrome", "version", "120.0.0.0",
                "os", "Windows 10", "os_version", "NT 10.0", "vendor", "Google");
        Sdk.assertSameValues(TypeMatrixTest.values(expected, null, null), out, "parse_user_agent");

        // The same ROW declared with its fields in another order: matched by name.
        Field reordered = TypeMatrixTest.struct("out", Sdk.field("vendor", ArrowType.Utf8.INSTANCE),
                Sdk.field("name", ArrowType.Utf8.INSTANCE));
        Sdk.assertSameValues(TypeMatrixTest.values(TypeMatrixTest.row("vendor", "Google", "name", "Chrome")),
                call("parse_user_agent", reordered, new Field[]{Sdk.field("col0", ArrowType.Utf8.INSTANCE)},
                        TypeMatrixTest.values(chrome)), "parse_user_agent, fields reordered");
    }

    @Test
    void text_udfs_answer_their_documented_values()
    {
        Sdk.assertSameValues(TypeMatrixTest.values("j***@example.com", "***", null, "***"),
                varchar("mask_email", TypeMatrixTest.values("jane.doe@example.com", "nope", null, "")), "mask_email");
        Sdk.assertSameValues(TypeMatrixTest.values("203.0.113.0", "2001:db8:abcd::", null, null),
                varchar("anonymize_ip", TypeMatrixTest.values("203.0.113.77", "2001:db8:abcd:12::1", "example.com", null)),
                "anonymize_ip");
        Sdk.assertSameValues(TypeMatrixTest.values("{\"user_id\":7,\"user_tags\":[\"a\",{\"k_1\":null}],\"n\":1.50}", null, null),
                varchar("flatten_json", TypeMatrixTest.values("{\"User\":{\"Id\":7,\"Tags\":[\"a\",{\"K-1\":null}]},\"n\":1.50}",
                        "{not json", null)), "flatten_json");
        Sdk.assertSameValues(TypeMatrixTest.values("deu", "eng", null, null),
                varchar("detect_language", TypeMatrixTest.values(
                        "Der schnelle braune Fuchs springt über den faulen Hund am Flussufer",
                        "The quick brown fox jumps over the lazy dog near the river bank", "12345 !!!", null)),
                "detect_language");
    }

    @Test
    void zero_rows_for_every_library_udf()
    {
        for (String method : List.of("compress", "decompress", "mask_email", "anonymize_ip", "flatten_json", "detect_language")) {
            assertEquals(List.of(), varchar(method, TypeMatrixTest.values()), method);
        }
        for (String method : List.of("encrypt", "decrypt", "hash_pii")) {
            assertEquals(List.of(), varchar(method, TypeMatrixTest.values(), TypeMatrixTest.values()), method);
        }
    }
}

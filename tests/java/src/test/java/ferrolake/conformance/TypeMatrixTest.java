package ferrolake.conformance;

import com.amazonaws.athena.connector.lambda.data.Block;
import com.amazonaws.athena.connector.lambda.data.BlockAllocator;
import com.amazonaws.athena.connector.lambda.data.BlockAllocatorImpl;
import com.amazonaws.athena.connector.lambda.udf.UserDefinedFunctionRequest;
import com.amazonaws.athena.connector.lambda.udf.UserDefinedFunctionResponse;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.arrow.vector.types.DateUnit;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * Every type the SDK carries, sent through ferrolake's {@code echo} (the athena-udf handler
 * with the type-matrix overloads) and decoded by the SDK: each value must come back, the
 * schema must be the declared one, and the answer must equal what the SDK's own
 * UserDefinedFunctionHandler returns for the same request bytes. NULLs in every position,
 * zero rows for every type, and large batches.
 */
class TypeMatrixTest
{
    record Case(String name, Field field, List<Object> values) {}

    static final ArrowType BOOL = ArrowType.Bool.INSTANCE;
    static final ArrowType TINYINT = new ArrowType.Int(8, true);
    static final ArrowType SMALLINT = new ArrowType.Int(16, true);
    static final ArrowType INT = new ArrowType.Int(32, true);
    static final ArrowType BIGINT = new ArrowType.Int(64, true);
    static final ArrowType REAL = new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE);
    static final ArrowType DOUBLE = new ArrowType.FloatingPoint(FloatingPointPrecision.DOUBLE);
    static final ArrowType VARCHAR = ArrowType.Utf8.INSTANCE;
    static final ArrowType VARBINARY = ArrowType.Binary.INSTANCE;
    static final ArrowType DATE = new ArrowType.Date(DateUnit.DAY);
    // Athena's TIMESTAMP is the SDK's DATEMILLI (LocalDateTime, UTC wall clock).
    static final ArrowType TIMESTAMP = new ArrowType.Date(DateUnit.MILLISECOND);

    static ArrowType decimal(int precision, int scale)
    {
        return new ArrowType.Decimal(precision, scale, 128);
    }

    static Field list(String name, Field item)
    {
        return Sdk.field(name, ArrowType.List.INSTANCE, item);
    }

    static Field struct(String name, Field... fields)
    {
        return Sdk.field(name, ArrowType.Struct.INSTANCE, fields);
    }

    @SafeVarargs
    static <T> List<Object> values(T... values)
    {
        return new ArrayList<>(Arrays.asList(values));
    }

    static Map<String, Object> row(Object... keysAndValues)
    {
        Map<String, Object> row = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            row.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return row;
    }

    static List<Case> decimals()
    {
        int[][] shapes = {{1, 0}, {5, 2}, {9, 4}, {10, 10}, {18, 6}, {19, 0}, {28, 14}, {38, 0}, {38, 10}, {38, 38}};
        List<Case> cases = new ArrayList<>();
        for (int[] shape : shapes) {
            int p = shape[0];
            int s = shape[1];
            BigInteger max = BigInteger.TEN.pow(p).subtract(BigInteger.ONE);
            cases.add(new Case("decimal(" + p + "," + s + ")", Sdk.field("col0", decimal(p, s)), values(
                    new BigDecimal(max, s),
                    null,
                    new BigDecimal(max.negate(), s),
                    BigDecimal.ZERO.setScale(s),
                    new BigDecimal(BigInteger.ONE, s),
                    new BigDecimal(BigInteger.valueOf(-7), s),
                    null)));
        }
        return cases;
    }

    static String longText(int chars)
    {
        StringBuilder text = new StringBuilder(chars);
        String alphabet = "abcdefghijklmnopqrstuvwxyz ÄÖÜäöüß€漢字🚀";
        for (int i = 0; text.length() < chars; i++) {
            text.appendCodePoint(alphabet.codePointAt(alphabet.offsetByCodePoints(0, (i * 7919) % alphabet.codePointCount(0, alphabet.length()))));
        }
        return text.toString();
    }

    static List<Case> cases()
    {
        byte[] allBytes = new byte[256];
        for (int i = 0; i < 256; i++) {
            allBytes[i] = (byte) i;
        }
        List<Integer> longList = new ArrayList<>();
        IntStream.range(0, 10_000).forEach(i -> longList.add(i % 97 == 0 ? null : i * 31));

        Field rowType = struct("col0",
                Sdk.field("b", BOOL),
                Sdk.field("t", TINYINT),
                Sdk.field("s", SMALLINT),
                Sdk.field("i", INT),
                Sdk.field("l", BIGINT),
                Sdk.field("f", REAL),
                Sdk.field("d", DOUBLE),
                Sdk.field("dec", decimal(10, 3)),
                Sdk.field("str", VARCHAR),
                Sdk.field("bin", VARBINARY),
                Sdk.field("day", DATE),
                Sdk.field("ts", TIMESTAMP),
                list("arr", list("item", Sdk.field("item", INT))),
                struct("inner", Sdk.field("x", INT), Sdk.field("y", VARCHAR)),
                list("pairs", struct("item", Sdk.field("k", VARCHAR), Sdk.field("v", BIGINT))));
        Map<String, Object> full = row(
                "b", true, "t", (byte) -5, "s", (short) 300, "i", 70_000, "l", 1L << 40,
                "f", 2.5f, "d", -1.25e-300, "dec", new BigDecimal("-1234567.891"), "str", "grüße 🚀",
                "bin", new byte[]{0, (byte) 0xff, 7}, "day", LocalDate.of(2024, 2, 29), "ts", LocalDateTime.of(1969, 12, 31, 23, 59, 59, 1_000_000),
                "arr", values(values(1, null, 3), values(), null),
                "inner", row("x", 7, "y", "seven"),
                "pairs", values(row("k", "a", "v", 1L), row("k", null, "v", null)));
        Map<String, Object> empty = row(
                "b", null, "t", null, "s", null, "i", null, "l", null, "f", null, "d", null, "dec", null,
                "str", null, "bin", null, "day", null, "ts", null, "arr", null, "inner", null, "pairs", null);
        Map<String, Object> hollow = row(
                "b", false, "t", (byte) 0, "s", (short) 0, "i", 0, "l", 0L, "f", 0.0f, "d", 0.0,
                "dec", new BigDecimal("0.000"), "str", "", "bin", new byte[0], "day", LocalDate.ofEpochDay(0),
                "ts", LocalDateTime.of(1970, 1, 1, 0, 0),
                "arr", values(), "inner", row("x", null, "y", null), "pairs", values());

        List<Case> cases = new ArrayList<>(List.of(
                new Case("boolean", Sdk.field("col0", BOOL), values(true, null, false, true, null)),
                new Case("tinyint", Sdk.field("col0", TINYINT), values(Byte.MIN_VALUE, null, (byte) 0, Byte.MAX_VALUE)),
                new Case("smallint", Sdk.field("col0", SMALLINT), values(Short.MIN_VALUE, null, (short) -1, Short.MAX_VALUE)),
                new Case("integer", Sdk.field("col0", INT), values(Integer.MIN_VALUE, null, 0, Integer.MAX_VALUE, null)),
                new Case("bigint", Sdk.field("col0", BIGINT), values(Long.MIN_VALUE, null, 0L, Long.MAX_VALUE)),
                new Case("real", Sdk.field("col0", REAL), values(1.5f, null, -0.0f, Float.MAX_VALUE, Float.MIN_VALUE,
                        Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY)),
                new Case("double", Sdk.field("col0", DOUBLE), values(Math.PI, null, -0.0, Double.MAX_VALUE, Double.MIN_VALUE,
                        Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY)),
                new Case("varchar", Sdk.field("col0", VARCHAR), values("", null, "a", "Zürich → Tōkyō",
                        "family 👩‍👩‍👧 flag 🇩🇪", "nul \u0000 inside", longText(100_000), null)),
                new Case("varbinary", Sdk.field("col0", VARBINARY), values(new byte[0], null, allBytes,
                        "x".getBytes(StandardCharsets.UTF_8))),
                new Case("date", Sdk.field("col0", DATE), values(LocalDate.ofEpochDay(0), null, LocalDate.of(1969, 12, 31),
                        LocalDate.of(1, 1, 1), LocalDate.of(9999, 12, 31), LocalDate.of(2024, 2, 29), LocalDate.of(1582, 10, 4))),
                new Case("timestamp", Sdk.field("col0", TIMESTAMP), values(LocalDateTime.of(1970, 1, 1, 0, 0), null,
                        LocalDateTime.of(1969, 12, 31, 23, 59, 59, 999_000_000),
                        LocalDateTime.of(2024, 2, 29, 12, 34, 56, 789_000_000),
                        LocalDateTime.of(1, 1, 1, 0, 0), LocalDateTime.of(9999, 12, 31, 23, 59, 59, 999_000_000))),
                new Case("array(integer)", list("col0", Sdk.field("item", INT)), values(values(1, null, 3), null, values(),
                        values((Object) null), longList)),
                new Case("array(varchar)", list("col0", Sdk.field("item", VARCHAR)), values(values("a", null, ""), null, values(),
                        values("ü", "🚀"))),
                new Case("row(every scalar, array(array), row, array(row))", rowType, values(full, null, empty, hollow)),
                new Case("row(a varchar, b varchar) all null", struct("col0", Sdk.field("a", VARCHAR), Sdk.field("b", VARCHAR)),
                        values(null, null, null))));
        cases.addAll(decimals());
        return cases;
    }

    /**
     * ferrolake's answer to {@code echo} over {@code values} (NULLs kept at every level), after
     * checking that the request carries exactly {@code values} and, when {@code sdkHandler},
     * that ferrolake's answer reads (through the SDK's projectors) as the answer of the SDK's
     * own UserDefinedFunctionHandler to the same bytes.
     */
    static List<Object> echo(BlockAllocator allocator, Field input, List<Object> values, boolean sdkHandler)
    {
        ObjectMapper mapper = Sdk.mapper(allocator);
        Block block = Sdk.block(allocator, Sdk.schema(input), values);
        Sdk.assertSameValues(values, Sdk.strictValues(block), input.getName() + ": the request block");
        Field output = new Field("out", input.getFieldType(), input.getChildren());
        UserDefinedFunctionRequest request = Sdk.request(block, output, "echo");
        byte[] payload = Sdk.serialize(mapper, request);

        UserDefinedFunctionResponse ours = Sdk.decodeUdf(mapper, LocalLambda.get().invoke(LocalLambda.ECHO, payload));
        List<Object> got = Sdk.checkedValues(ours, request);

        if (sdkHandler) {
            JavaHandlers.Answer java = JavaHandlers.call(new SdkEchoHandler(), payload);
            assertFalse(java.failed(), () -> "the SDK's own handler failed: " + JavaHandlers.describe(java.error()));
            UserDefinedFunctionResponse theirs = (UserDefinedFunctionResponse) Sdk.decode(mapper, java.response());
            assertEquals(theirs.getRecords().getSchema(), ours.getRecords().getSchema(), "schema: ferrolake vs the SDK's handler");
            Sdk.assertSameValues(Sdk.values(theirs.getRecords()), Sdk.values(ours.getRecords()),
                    input.getName() + ": ferrolake vs the SDK's handler");
        }
        return got;
    }

    static List<Object> echo(BlockAllocator allocator, Field input, List<Object> values)
    {
        return echo(allocator, input, values, true);
    }

    @TestFactory
    Stream<DynamicTest> every_type_round_trips_as_through_the_sdk_handler()
    {
        return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            try (BlockAllocator allocator = new BlockAllocatorImpl()) {
                Sdk.assertSameValues(c.values(), echo(allocator, c.field(), c.values()), c.name());
            }
        }));
    }

    @TestFactory
    Stream<DynamicTest> zero_rows_of_every_type()
    {
        return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            try (BlockAllocator allocator = new BlockAllocatorImpl()) {
                assertEquals(List.of(), echo(allocator, c.field(), values()));
            }
        }));
    }

    @TestFactory
    Stream<DynamicTest> all_null_columns_of_every_type()
    {
        return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            try (BlockAllocator allocator = new BlockAllocatorImpl()) {
                List<Object> nulls = values(null, null, null);
                echo(allocator, c.field(), nulls).forEach(v -> assertNull(v, c.name()));
            }
        }));
    }

    @Test
    void large_batches()
    {
        try (BlockAllocator allocator = new BlockAllocatorImpl()) {
            List<Object> longs = new ArrayList<>();
            for (int i = 0; i < 200_000; i++) {
                longs.add(i % 1000 == 7 ? null : (long) i * 2_654_435_761L);
            }
            Sdk.assertSameValues(longs, echo(allocator, Sdk.field("col0", BIGINT), longs), "200k bigint");

            List<Object> texts = new ArrayList<>();
            String base = longText(120);
            for (int i = 0; i < 25_000; i++) {
                texts.add(i % 333 == 0 ? null : i + base);
            }
            Sdk.assertSameValues(texts, echo(allocator, Sdk.field("col0", VARCHAR), texts), "25k varchar (~3 MB)");

            List<Object> rows = new ArrayList<>();
            for (int i = 0; i < 20_000; i++) {
                rows.add(i % 500 == 0 ? null : row("x", i, "y", i % 3 == 0 ? null : Integer.toString(i)));
            }
            // Not compared with the SDK's handler: its ROW writer returns NULL for every row from
            // 19504 on in this batch (SDK 2026.24.1; see the README's conformance notes).
            Sdk.assertSameValues(rows, echo(allocator, struct("col0", Sdk.field("x", INT), Sdk.field("y", VARCHAR)), rows, false),
                    "20k rows of row(x, y)");
        }
    }

    @Test
    void empty_list_and_list_of_nulls_are_distinct_from_null()
    {
        try (BlockAllocator allocator = new BlockAllocatorImpl()) {
            List<Object> in = values(values(), null, values((Object) null), values((Object) null, null));
            List<Object> out = echo(allocator, list("col0", Sdk.field("item", INT)), in);
            Sdk.assertSameValues(in, out, "array(integer)");
            assertEquals(Collections.emptyList(), out.get(0));
        }
    }
}

package ferrolake.conformance;

import com.amazonaws.athena.connector.lambda.data.Block;
import com.amazonaws.athena.connector.lambda.data.BlockAllocator;
import com.amazonaws.athena.connector.lambda.data.FieldResolver;
import com.amazonaws.athena.connector.lambda.data.projectors.ArrowValueProjector;
import com.amazonaws.athena.connector.lambda.data.projectors.ProjectorUtils;
import com.amazonaws.athena.connector.lambda.handlers.SerDeVersion;
import com.amazonaws.athena.connector.lambda.request.FederationResponse;
import com.amazonaws.athena.connector.lambda.request.PingRequest;
import com.amazonaws.athena.connector.lambda.request.PingResponse;
import com.amazonaws.athena.connector.lambda.security.FederatedIdentity;
import com.amazonaws.athena.connector.lambda.serde.VersionedObjectMapperFactory;
import com.amazonaws.athena.connector.lambda.udf.UserDefinedFunctionRequest;
import com.amazonaws.athena.connector.lambda.udf.UserDefinedFunctionResponse;
import com.amazonaws.athena.connector.lambda.udf.UserDefinedFunctionType;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.arrow.vector.DateDayVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.ValueVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.complex.ListVector;
import org.apache.arrow.vector.complex.StructVector;
import org.apache.arrow.vector.types.Types;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;
import software.amazon.awssdk.services.lambda.model.LambdaException;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The Athena Query Federation SDK's own classes, used the way Athena uses them: Blocks from a
 * BlockAllocator, requests serialized and responses deserialized by the SDK's ObjectMapper for
 * a serde version (6 unless a test says otherwise: what ferrolake announces in its ping).
 */
final class Sdk
{
    private Sdk() {}

    static final String ACCOUNT = "123456789012";

    static FederatedIdentity identity()
    {
        return new FederatedIdentity("arn:aws:iam::" + ACCOUNT + ":user/analyst", ACCOUNT,
                Collections.emptyMap(), Collections.emptyList(), Collections.emptyMap());
    }

    static ObjectMapper mapper(BlockAllocator allocator)
    {
        return VersionedObjectMapperFactory.create(allocator, SerDeVersion.SERDE_VERSION);
    }

    static Field field(String name, ArrowType type, Field... children)
    {
        return new Field(name, FieldType.nullable(type), children.length == 0 ? null : Arrays.asList(children));
    }

    static Schema schema(Field... fields)
    {
        return new Schema(Arrays.asList(fields));
    }

    /**
     * A block of {@code schema} with {@code columns[i]} as the values of field i (one list per
     * column, all the same length), written with the SDK's setValue / setComplexValue.
     */
    static Block block(BlockAllocator allocator, Schema schema, List<?>... columns)
    {
        Block block = allocator.createBlock(schema);
        int rows = columns.length == 0 ? 0 : columns[0].size();
        for (int c = 0; c < columns.length; c++) {
            Field field = schema.getFields().get(c);
            assertEquals(rows, columns[c].size(), "column " + field.getName() + " length");
            boolean complex = isComplex(field);
            for (int row = 0; row < rows; row++) {
                Object value = columns[c].get(row);
                if (complex) {
                    // A NULL ARRAY or ROW is a position left unset (the SDK's setValue takes no
                    // complex NULL); setRowCount fills the offsets of such holes.
                    if (value != null) {
                        block.setComplexValue(field.getName(), row, FieldResolver.DEFAULT, value);
                    }
                }
                else {
                    block.setValue(field.getName(), row, value);
                }
            }
        }
        block.setRowCount(rows);
        return block;
    }

    private static boolean isComplex(Field field)
    {
        Types.MinorType type = Types.getMinorTypeForArrowType(field.getType());
        return type == Types.MinorType.LIST || type == Types.MinorType.STRUCT || type == Types.MinorType.MAP;
    }

    static UserDefinedFunctionRequest request(Block input, Field output, String method)
    {
        return new UserDefinedFunctionRequest(identity(), input, schema(output), method, UserDefinedFunctionType.SCALAR);
    }

    static byte[] serialize(ObjectMapper mapper, Object request)
    {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            mapper.writeValue(out, request);
            return out.toByteArray();
        }
        catch (IOException e) {
            throw new IllegalStateException("the SDK could not serialize " + request.getClass().getSimpleName() + ": " + e, e);
        }
    }

    static PingRequest ping(String catalog, String queryId)
    {
        return new PingRequest(identity(), catalog, queryId);
    }

    /** The response as the SDK reads it; fails the test when it does not decode. */
    static FederationResponse decode(ObjectMapper mapper, byte[] body)
    {
        try {
            return mapper.readValue(new ByteArrayInputStream(body), FederationResponse.class);
        }
        catch (IOException | RuntimeException e) {
            fail("the SDK cannot read the response (" + e + "): " + preview(body), e);
            throw new AssertionError(e);
        }
    }

    static UserDefinedFunctionResponse decodeUdf(ObjectMapper mapper, LocalLambda.Invocation invocation)
    {
        assertEquals(200, invocation.status(), () -> "HTTP status; body: " + preview(invocation.body()));
        assertTrue(invocation.functionError().isEmpty(), () -> "function error: " + invocation.text());
        return assertInstanceOf(UserDefinedFunctionResponse.class, decode(mapper, invocation.body()),
                "response type");
    }

    static PingResponse decodePing(ObjectMapper mapper, LocalLambda.Invocation invocation)
    {
        assertEquals(200, invocation.status());
        assertTrue(invocation.functionError().isEmpty(), () -> "function error: " + invocation.text());
        return assertInstanceOf(PingResponse.class, decode(mapper, invocation.body()), "response type");
    }

    /** A function error as the SDK reads one (its LambdaFunctionException deserializer). */
    static LambdaException decodeError(ObjectMapper mapper, LocalLambda.Invocation invocation)
    {
        assertEquals(200, invocation.status(), "Lambda answers a function error with 200");
        assertEquals("Unhandled", invocation.functionError().orElse(null), "X-Amz-Function-Error");
        try {
            return mapper.readValue(invocation.body(), LambdaException.class);
        }
        catch (IOException | RuntimeException e) {
            fail("the SDK cannot read the function error (" + e + "): " + invocation.text(), e);
            throw new AssertionError(e);
        }
    }

    /** Every value of column 0, projected to Java objects the way the SDK's UDF handler sees them. */
    static List<Object> values(Block block)
    {
        Field field = block.getSchema().getFields().get(0);
        return values(block, field.getName());
    }

    static List<Object> values(Block block, String column)
    {
        ArrowValueProjector projector = ProjectorUtils.createArrowValueProjector(block.getFieldReader(column));
        List<Object> out = new ArrayList<>(block.getRowCount());
        for (int row = 0; row < block.getRowCount(); row++) {
            out.add(projector.project(row));
        }
        return out;
    }

    /**
     * Every value of {@code column}, read from the Arrow vectors with NULL kept at every level.
     * (The SDK's projectors read a NULL ARRAY inside a ROW as [] and a NULL ROW inside a ROW
     * as a row of NULLs, which would hide a lost NULL.)
     */
    static List<Object> strictValues(Block block, String column)
    {
        FieldVector vector = block.getFieldVector(column);
        List<Object> out = new ArrayList<>(block.getRowCount());
        for (int row = 0; row < block.getRowCount(); row++) {
            out.add(strict(vector, row));
        }
        return out;
    }

    static List<Object> strictValues(Block block)
    {
        return strictValues(block, block.getSchema().getFields().get(0).getName());
    }

    private static Object strict(ValueVector vector, int row)
    {
        if (vector.isNull(row)) {
            return null;
        }
        if (vector instanceof StructVector) {
            StructVector struct = (StructVector) vector;
            Map<String, Object> value = new LinkedHashMap<>();
            for (String name : struct.getChildFieldNames()) {
                value.put(name, strict(struct.getChild(name), row));
            }
            return value;
        }
        if (vector instanceof ListVector) {
            ListVector list = (ListVector) vector;
            int start = list.getElementStartIndex(row);
            int end = list.getElementEndIndex(row);
            List<Object> value = new ArrayList<>(end - start);
            for (int i = start; i < end; i++) {
                value.add(strict(list.getDataVector(), i));
            }
            return value;
        }
        if (vector instanceof DateDayVector) {
            return LocalDate.ofEpochDay(((DateDayVector) vector).get(row));
        }
        if (vector instanceof VarCharVector) {
            return new String(((VarCharVector) vector).get(row), StandardCharsets.UTF_8);
        }
        return vector.getObject(row);
    }

    /**
     * The response batch: its schema is the requested one, it has one value per input row.
     * Returns the values with NULLs kept at every level.
     */
    static List<Object> checkedValues(UserDefinedFunctionResponse response, UserDefinedFunctionRequest request)
    {
        assertEquals(request.getMethodName(), response.getMethodName(), "methodName");
        Block records = response.getRecords();
        assertEquals(request.getOutputSchema(), records.getSchema(), "response schema = outputSchema");
        assertEquals(request.getInputRecords().getRowCount(), records.getRowCount(), "row count");
        // The SDK's own projection must read every row too.
        assertEquals(records.getRowCount(), values(records).size());
        return strictValues(records);
    }

    /** Value equality that knows byte[] (by content), BigDecimal (value and scale) and nesting. */
    static boolean same(Object a, Object b)
    {
        if (a == null || b == null) {
            return a == b;
        }
        if (a instanceof byte[] && b instanceof byte[]) {
            return Arrays.equals((byte[]) a, (byte[]) b);
        }
        if (a instanceof BigDecimal && b instanceof BigDecimal) {
            return ((BigDecimal) a).compareTo((BigDecimal) b) == 0 && ((BigDecimal) a).scale() == ((BigDecimal) b).scale();
        }
        if (a instanceof List && b instanceof List) {
            List<?> x = (List<?>) a;
            List<?> y = (List<?>) b;
            if (x.size() != y.size()) {
                return false;
            }
            Iterator<?> i = x.iterator();
            Iterator<?> j = y.iterator();
            while (i.hasNext()) {
                if (!same(i.next(), j.next())) {
                    return false;
                }
            }
            return true;
        }
        if (a instanceof Map && b instanceof Map) {
            Map<?, ?> x = (Map<?, ?>) a;
            Map<?, ?> y = (Map<?, ?>) b;
            if (!x.keySet().equals(y.keySet())) {
                return false;
            }
            return x.keySet().stream().allMatch(k -> same(x.get(k), y.get(k)));
        }
        return Objects.equals(a, b);
    }

    static void assertSameValues(List<?> expected, List<?> actual, String what)
    {
        assertEquals(expected.size(), actual.size(), what + ": row count");
        for (int row = 0; row < expected.size(); row++) {
            Object e = expected.get(row);
            Object a = actual.get(row);
            if (!same(e, a)) {
                fail(what + ": row " + row + ": expected <" + show(e) + "> but was <" + show(a) + ">");
            }
        }
    }

    static String show(Object value)
    {
        if (value instanceof byte[]) {
            return "bytes" + Arrays.toString((byte[]) value);
        }
        String text = String.valueOf(value);
        return text.length() > 200 ? text.substring(0, 200) + "…(" + text.length() + " chars)" : text;
    }

    static String preview(byte[] body)
    {
        String text = new String(body, java.nio.charset.StandardCharsets.UTF_8);
        return text.length() > 500 ? text.substring(0, 500) + "…" : text;
    }
}

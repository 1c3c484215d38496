package ferrolake.conformance;

import com.amazonaws.athena.connector.lambda.data.Block;
import com.amazonaws.athena.connector.lambda.data.BlockAllocator;
import com.amazonaws.athena.connector.lambda.data.BlockAllocatorImpl;
import com.amazonaws.athena.connector.lambda.request.PingResponse;
import com.amazonaws.athena.connector.lambda.serde.VersionedObjectMapperFactory;
import com.amazonaws.athena.connector.lambda.udf.UserDefinedFunctionRequest;
import com.amazonaws.athena.connector.lambda.udf.UserDefinedFunctionResponse;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import software.amazon.awssdk.services.lambda.model.LambdaException;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The protocol around the data: PingRequest/PingResponse, every serde version's JSON shape and
 * Arrow framing, the response's type, schema and methodName, and function errors read by the
 * SDK's LambdaFunctionException deserializer exactly as it reads a Java handler's.
 */
class ProtocolTest
{
    /** How the SDK's LambdaFunctionException deserializer renders an error document. */
    private static final Pattern SDK_ERROR = Pattern.compile("(?s)^(.*)\\. Stack trace: \\[.*\\]\\nErrorType: (.*)$");

    static final Field VARCHAR_OUT = Sdk.field("out", ArrowType.Utf8.INSTANCE);

    @ParameterizedTest(name = "serde v{0}")
    @ValueSource(ints = {1, 2, 3, 4, 5, 6})
    void ping_is_answered_as_the_sdk_handler_answers_it(int version)
    {
        try (BlockAllocator allocator = new BlockAllocatorImpl()) {
            ObjectMapper mapper = VersionedObjectMapperFactory.create(allocator, version);
            byte[] ping = Sdk.serialize(mapper, Sdk.ping("lambda:ferrolake", "query-" + version));
            PingResponse ours = Sdk.decodePing(mapper, LocalLambda.get().invoke(LocalLambda.ATHENA_UDF, ping));
            // The SDK's own handler reads only its current serde (a v1 ping fails there;
            // ferrolake reads every version): its answer to the current ping is the reference.
            ObjectMapper current = Sdk.mapper(allocator);
            JavaHandlers.Answer java = JavaHandlers.call(new SdkEchoHandler(),
                    Sdk.serialize(current, Sdk.ping("lambda:ferrolake", "query-" + version)));
            PingResponse theirs = (PingResponse) Sdk.decode(current, java.response());

            assertEquals("lambda:ferrolake", ours.getCatalogName());
            assertEquals("query-" + version, ours.getQueryId());
            assertEquals("ferrolake", ours.getSourceType());
            assertEquals(theirs.getCapabilities(), ours.getCapabilities(), "capabilities");
            assertEquals(theirs.getSerDeVersion(), ours.getSerDeVersion(), "serDeVersion");
            assertEquals(24, ours.getCapabilities());
            assertEquals(6, ours.getSerDeVersion());
        }
    }

    @ParameterizedTest(name = "serde v{0}")
    @ValueSource(ints = {1, 2, 3, 4, 5, 6})
    void every_serde_version_is_read_and_its_reader_reads_the_answer(int version)
    {
        try (BlockAllocator allocator = new BlockAllocatorImpl()) {
            ObjectMapper mapper = VersionedObjectMapperFactory.create(allocator, version);
            Field in = Sdk.field("col0", ArrowType.Utf8.INSTANCE);
            Block block = Sdk.block(allocator, Sdk.schema(in), TypeMatrixTest.values("StringToBeCompressed", null, ""));
            UserDefinedFunctionRequest request = Sdk.request(block, VARCHAR_OUT, "compress");
            byte[] payload = Sdk.serialize(mapper, request);
            UserDefinedFunctionResponse response = Sdk.decodeUdf(mapper, LocalLambda.get().invoke(LocalLambda.ATHENA_UDF, payload));
            // The athena-udfs README vector; "" compresses to an empty zlib stream.
            assertEquals(TypeMatrixTest.values("eJwLLinKzEsPyXdKdc7PLShKLS5OTQEAUrEH9w==", null, "eJwDAAAAAAE="),
                    Sdk.checkedValues(response, request));

            Field ints = Sdk.field("col0", TypeMatrixTest.INT);
            Block two = Sdk.block(allocator, Sdk.schema(ints), TypeMatrixTest.values(6, null, 10));
            UserDefinedFunctionRequest echo = Sdk.request(two, Sdk.field("out", TypeMatrixTest.INT), "echo");
            UserDefinedFunctionResponse echoed = Sdk.decodeUdf(mapper,
                    LocalLambda.get().invoke(LocalLambda.ECHO, Sdk.serialize(mapper, echo)));
            assertEquals(TypeMatrixTest.values(6, null, 10), Sdk.checkedValues(echoed, echo));
        }
    }

    @Test
    void the_declared_output_field_comes_back_verbatim()
    {
        try (BlockAllocator allocator = new BlockAllocatorImpl()) {
            ObjectMapper mapper = Sdk.mapper(allocator);
            Block block = Sdk.block(allocator, Sdk.schema(Sdk.field("0", TypeMatrixTest.BIGINT)), TypeMatrixTest.values(1L, 2L));
            Field notNull = new Field("Result Column", FieldType.notNullable(TypeMatrixTest.BIGINT), null);
            UserDefinedFunctionRequest request = Sdk.request(block, notNull, "echo");
            UserDefinedFunctionResponse response = Sdk.decodeUdf(mapper,
                    LocalLambda.get().invoke(LocalLambda.ECHO, Sdk.serialize(mapper, request)));
            assertEquals(TypeMatrixTest.values(1L, 2L), Sdk.checkedValues(response, request));
            assertEquals(notNull, response.getRecords().getSchema().getFields().get(0));
        }
    }

    record ErrorCase(String method, Field input, List<Object> values, String errorType, String messageStart) {}

    static List<ErrorCase> errorCases()
    {
        Field varchar = Sdk.field("col0", ArrowType.Utf8.INSTANCE);
        return List.of(
                new ErrorCase("nope", varchar, TypeMatrixTest.values("x"), "UnknownMethod", "no UDF named \"nope\""),
                new ErrorCase("compress", Sdk.field("col0", TypeMatrixTest.INT), TypeMatrixTest.values(1),
                        "SignatureMismatch", "compress(varchar) -> varchar expected"),
                new ErrorCase("decompress", varchar, TypeMatrixTest.values("eJwLLinKzEsPyXdKdc7PLShKLS5OTQEAUrEH9w==", "not base64!"),
                        "UdfFailed", "decompress failed on row 1: input is not base64"));
    }

    @Test
    void function_errors_read_as_the_sdk_reads_a_java_handlers()
    {
        for (ErrorCase c : errorCases()) {
            try (BlockAllocator allocator = new BlockAllocatorImpl()) {
                ObjectMapper mapper = Sdk.mapper(allocator);
                Block block = Sdk.block(allocator, Sdk.schema(c.input()), c.values());
                byte[] payload = Sdk.serialize(mapper, Sdk.request(block, VARCHAR_OUT, c.method()));
                LocalLambda.Invocation invocation = LocalLambda.get().invoke(LocalLambda.ATHENA_UDF, payload);
                LambdaException ours = Sdk.decodeError(mapper, invocation);
                Matcher m = SDK_ERROR.matcher(ours.getMessage());
                assertTrue(m.matches(), () -> c.method() + ": the SDK's rendering: " + ours.getMessage());
                assertEquals(c.errorType(), m.group(2), c.method() + ": errorType");
                assertTrue(m.group(1).startsWith(c.messageStart()), () -> c.method() + ": errorMessage: " + m.group(1));

                // The same failure from the SDK's own handler, posted as the Lambda Java runtime
                // posts it, reads the same way.
                JavaHandlers.Answer java = JavaHandlers.call(new SdkEchoHandler(), payload);
                assertTrue(java.failed(), c.method() + ": the SDK's handler should fail too");
                Map<String, Object> document = JavaHandlers.lambdaErrorDocument(java.error());
                byte[] body = Sdk.serialize(new ObjectMapper(), document);
                LambdaException theirs = Sdk.decodeError(mapper,
                        new LocalLambda.Invocation(200, Optional.of("Unhandled"), body));
                Matcher t = SDK_ERROR.matcher(theirs.getMessage());
                assertTrue(t.matches(), () -> "the SDK's rendering of its own error: " + theirs.getMessage());
                assertEquals(java.error().getClass().getName(), t.group(2));
            }
        }
    }

    @Test
    void requests_that_are_not_udf_calls_are_function_errors_the_sdk_reads()
    {
        try (BlockAllocator allocator = new BlockAllocatorImpl()) {
            ObjectMapper mapper = Sdk.mapper(allocator);
            String[][] cases = {
                    {"{\"@type\":\"ListTablesRequest\"}", "InvalidRequest"},
                    {"{\"catalogName\":\"c\"}", "InvalidRequest"},
                    {"[1, 2]", "InvalidRequest"},
            };
            for (String[] c : cases) {
                LocalLambda.Invocation invocation = LocalLambda.get().invoke(LocalLambda.ATHENA_UDF, c[0].getBytes(StandardCharsets.UTF_8));
                Matcher m = SDK_ERROR.matcher(Sdk.decodeError(mapper, invocation).getMessage());
                assertTrue(m.matches());
                assertEquals(c[1], m.group(2), c[0]);
            }
        }
    }

    @Test
    void a_payload_that_is_not_json_is_refused_as_lambda_refuses_it()
    {
        LocalLambda.Invocation invocation = LocalLambda.get().invoke(LocalLambda.ATHENA_UDF, "not json".getBytes(StandardCharsets.UTF_8));
        assertEquals(400, invocation.status(), invocation.text());
        assertTrue(invocation.text().contains("InvalidRequestContentException") || invocation.text().contains("json"), invocation.text());
    }

    @Test
    void a_secret_that_does_not_exist_fails_the_call_naming_it()
    {
        try (BlockAllocator allocator = new BlockAllocatorImpl()) {
            ObjectMapper mapper = Sdk.mapper(allocator);
            Field varchar = Sdk.field("col0", ArrowType.Utf8.INSTANCE);
            Block block = Sdk.block(allocator, Sdk.schema(varchar, Sdk.field("col1", ArrowType.Utf8.INSTANCE)),
                    TypeMatrixTest.values("x"), TypeMatrixTest.values("ferrolake-no-such-secret"));
            LambdaException error = Sdk.decodeError(mapper, LocalLambda.get().invoke(LocalLambda.ATHENA_UDF,
                    Sdk.serialize(mapper, Sdk.request(block, VARCHAR_OUT, "encrypt"))));
            Matcher m = SDK_ERROR.matcher(error.getMessage());
            assertTrue(m.matches(), error.getMessage());
            assertEquals("SecretUnavailable", m.group(2));
            assertTrue(m.group(1).contains("ferrolake-no-such-secret"), m.group(1));
        }
    }
}

package ferrolake.conformance;

import com.amazonaws.athena.connector.lambda.handlers.UserDefinedFunctionHandler;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Java UDF handlers run in-process on the exact bytes ferrolake receives. */
final class JavaHandlers
{
    private JavaHandlers() {}

    /** What a Java Lambda answers: the response body, or the function error its runtime would send. */
    record Answer(byte[] response, RuntimeException error)
    {
        boolean failed()
        {
            return error != null;
        }
    }

    static Answer call(UserDefinedFunctionHandler handler, byte[] payload)
    {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            handler.handleRequest(new ByteArrayInputStream(payload), out, null);
            return new Answer(out.toByteArray(), null);
        }
        catch (RuntimeException e) {
            return new Answer(null, e);
        }
    }

    /**
     * The function-error document the Lambda Java runtime posts for an uncaught exception:
     * errorMessage, errorType (the class name), stackTrace (one string per frame), cause.
     */
    static Map<String, Object> lambdaErrorDocument(Throwable error)
    {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("errorMessage", error.getMessage());
        doc.put("errorType", error.getClass().getName());
        List<String> frames = new ArrayList<>();
        for (StackTraceElement frame : error.getStackTrace()) {
            frames.add(frame.toString());
        }
        doc.put("stackTrace", frames);
        if (error.getCause() != null && error.getCause() != error) {
            doc.put("cause", lambdaErrorDocument(error.getCause()));
        }
        return doc;
    }

    static String describe(Throwable error)
    {
        StringWriter text = new StringWriter();
        error.printStackTrace(new PrintWriter(text));
        return text.toString();
    }
}

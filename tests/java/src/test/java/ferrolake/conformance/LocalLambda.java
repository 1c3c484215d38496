package ferrolake.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The real function binaries behind {@code ferrolake-local-lambda} (a Lambda Runtime API in
 * front of each binary, Lambda's Invoke API on loopback), started once per test JVM with moto
 * for Secrets Manager. Invocations are plain HTTP, as an SDK client's would be.
 */
final class LocalLambda
{
    /** The production binary: the UDF library Athena users call. */
    static final String ATHENA_UDF = "athena-udf";
    /** The same handler with the type-matrix echo overloads (tests/local-aws/src/bin/udf_echo.rs). */
    static final String ECHO = "athena-udf-echo";

    private static LocalLambda instance;

    private final Process process;
    private final URI invoke;
    private final URI moto;
    private final Path logs;
    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .build();

    /** One synchronous invocation's answer, as Lambda's Invoke API gives it. */
    record Invocation(int status, Optional<String> functionError, byte[] body)
    {
        String text()
        {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    private LocalLambda(Process process, URI invoke, URI moto, Path logs)
    {
        this.process = process;
        this.invoke = invoke;
        this.moto = moto;
        this.logs = logs;
    }

    static Path binDir()
    {
        String dir = System.getProperty("ferrolake.bin.dir",
                System.getProperty("user.home") + "/.cache/ferrolake/target/debug");
        return Paths.get(dir);
    }

    private static Path binary(String name)
    {
        Path path = binDir().resolve(name);
        if (!Files.isExecutable(path)) {
            throw new IllegalStateException(path + " not found: build the binaries first (make java-conformance "
                    + "runs cargo build -p athena-udf -p ferrolake-local-aws --bins), or set -Dferrolake.bin.dir");
        }
        return path;
    }

    /** The shared instance, started on first use and stopped when the JVM exits. */
    static synchronized LocalLambda get()
    {
        if (instance == null) {
            instance = start();
            Runtime.getRuntime().addShutdownHook(new Thread(instance::stop));
        }
        return instance;
    }

    private static LocalLambda start()
    {
        try {
            Path logs = Paths.get(System.getProperty("ferrolake.logs.dir", "target/local-lambda-logs")).toAbsolutePath();
            Files.createDirectories(logs);
            List<String> command = new ArrayList<>(List.of(
                    binary("ferrolake-local-lambda").toString(),
                    "--function", ATHENA_UDF + "=" + binary("athena-udf"),
                    "--function", ECHO + "=" + binary("ferrolake-udf-echo"),
                    "--moto",
                    "--timeout", "120",
                    // Lambda's largest memory size: large batches are measured elsewhere.
                    "--memory", "1024",
                    "--log-dir", logs.toString(),
                    "--exit-on-stdin-eof"));
            ProcessBuilder builder = new ProcessBuilder(command)
                    .redirectError(logs.resolve("local-lambda.stderr").toFile());
            Process process = builder.start();
            BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            // moto's first start can take a while (Python imports); the line comes when both listen.
            CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
                try {
                    return out.readLine();
                }
                catch (IOException e) {
                    return null;
                }
            });
            String ready = line.get(120, TimeUnit.SECONDS);
            if (ready == null) {
                throw new IllegalStateException("ferrolake-local-lambda exited before it was ready; see "
                        + logs.resolve("local-lambda.stderr") + ": " + Files.readString(logs.resolve("local-lambda.stderr")));
            }
            JsonNode json = new ObjectMapper().readTree(ready);
            return new LocalLambda(process, URI.create(json.get("invoke").asText()),
                    URI.create(json.get("moto").asText()), logs);
        }
        catch (Exception e) {
            throw new IllegalStateException("cannot start ferrolake-local-lambda: " + e, e);
        }
    }

    /** moto's endpoint (Secrets Manager for both ferrolake and the Java oracle). */
    URI moto()
    {
        return moto;
    }

    Path logs()
    {
        return logs;
    }

    /** Invoke {@code function} synchronously (RequestResponse) with {@code payload}. */
    Invocation invoke(String function, byte[] payload)
    {
        HttpRequest request = HttpRequest.newBuilder(invoke.resolve("/2015-03-31/functions/" + function + "/invocations"))
                .timeout(Duration.ofSeconds(150))
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(payload))
                .build();
        try {
            HttpResponse<byte[]> response = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
            return new Invocation(response.statusCode(),
                    response.headers().firstValue("x-amz-function-error"),
                    response.body());
        }
        catch (IOException e) {
            throw new IllegalStateException("invoke " + function + ": " + e + " (logs: " + logs + ")", e);
        }
        catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private void stop()
    {
        try {
            // Closing stdin is the signal (--exit-on-stdin-eof): the bin stops its functions and moto.
            process.getOutputStream().close();
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                process.destroy();
                process.waitFor(5, TimeUnit.SECONDS);
            }
        }
        catch (IOException | InterruptedException e) {
            process.destroyForcibly();
        }
    }
}

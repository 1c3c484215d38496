package ferrolake.conformance;

import com.amazonaws.athena.connector.lambda.handlers.UserDefinedFunctionHandler;

import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.List;
import java.util.Map;

/**
 * {@code echo(x) -> x} for every Java type the SDK maps an Arrow type to, on the SDK's own
 * UserDefinedFunctionHandler: what a Java UDF Lambda answers for the same request, so each
 * ferrolake response is compared with the SDK's, not only with the input.
 */
public class SdkEchoHandler extends UserDefinedFunctionHandler
{
    public SdkEchoHandler()
    {
        super("ferrolake_conformance_echo");
    }

    public Boolean echo(Boolean v) { return v; }
    public Byte echo(Byte v) { return v; }
    public Short echo(Short v) { return v; }
    public Integer echo(Integer v) { return v; }
    public Long echo(Long v) { return v; }
    public Float echo(Float v) { return v; }
    public Double echo(Double v) { return v; }
    public BigDecimal echo(BigDecimal v) { return v; }
    public String echo(String v) { return v; }
    public byte[] echo(byte[] v) { return v; }
    public LocalDate echo(LocalDate v) { return v; }
    public LocalDateTime echo(LocalDateTime v) { return v; }
    public List echo(List v) { return v; }
    public Map echo(Map v) { return v; }
}

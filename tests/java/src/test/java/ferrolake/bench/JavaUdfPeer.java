package ferrolake.bench;

import com.amazonaws.athena.connector.lambda.security.CachableSecretsManager;
import ferrolake.conformance.AthenaUdfsReference;
import software.amazon.awssdk.services.secretsmanager.SecretsManagerClient;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.HexFormat;

/**
 * The Java UDF Lambda an Athena user deploys today, as `make bench`'s peer: the SDK's
 * UserDefinedFunctionHandler with athena-udfs' UDFs (AthenaUdfsReference, since athena-udfs
 * itself is not on Maven Central) plus a minimal hash_pii (HMAC-SHA256 hex of the value, keyed
 * with the secret string, as ferrolake's hash_pii), run by the Lambda Java runtime interface
 * client behind the benchmark's local Runtime API. Lambda constructs handlers with no
 * arguments; the Secrets Manager client comes from the environment (AWS_ENDPOINT_URL points
 * it at moto in the benchmark).
 */
public class JavaUdfPeer extends AthenaUdfsReference
{
    private final CachableSecretsManager keys;

    public JavaUdfPeer()
    {
        this(SecretsManagerClient.create());
    }

    private JavaUdfPeer(SecretsManagerClient client)
    {
        super(client);
        this.keys = new CachableSecretsManager(client);
    }

    public String hash_pii(String value, String secretName)
            throws GeneralSecurityException
    {
        if (value == null || secretName == null) {
            return null;
        }
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(keys.getSecret(secretName).getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        return HexFormat.of().formatHex(mac.doFinal(value.getBytes(StandardCharsets.UTF_8)));
    }
}

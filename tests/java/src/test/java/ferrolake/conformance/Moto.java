package ferrolake.conformance;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.secretsmanager.SecretsManagerClient;

import java.util.UUID;

/** moto's Secrets Manager (started by ferrolake-local-lambda), shared by ferrolake and the Java handlers. */
final class Moto
{
    private Moto() {}

    private static SecretsManagerClient client;

    static synchronized SecretsManagerClient secretsManager()
    {
        if (client == null) {
            client = SecretsManagerClient.builder()
                    .endpointOverride(LocalLambda.get().moto())
                    .region(Region.US_EAST_1)
                    .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create("testing", "testing")))
                    .build();
        }
        return client;
    }

    /** A new secret holding {@code value}; returns its (unique) name. */
    static String secret(String base, String value)
    {
        String name = "conformance/" + base + "-" + UUID.randomUUID();
        secretsManager().createSecret(r -> r.name(name).secretString(value));
        return name;
    }
}

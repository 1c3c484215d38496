package ferrolake.conformance;

import com.amazonaws.athena.connector.lambda.handlers.UserDefinedFunctionHandler;
import com.amazonaws.athena.connector.lambda.security.CachableSecretsManager;
import software.amazon.awssdk.services.secretsmanager.SecretsManagerClient;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * The oracle for AWS's athena-udfs ({@code com.amazonaws.athena.connectors.udfs.AthenaUDFHandler}):
 * that module is not published to Maven Central (no version of com.amazonaws:athena-udfs is
 * served), so this is the closest thing that is: the same four UDFs on the published SDK's
 * UserDefinedFunctionHandler and CachableSecretsManager, written here from their documented
 * behaviour (shared/specs/athena-udf-protocol.md §8) with the JDK primitives they are built on:
 * java.util.zip Deflater/Inflater with their defaults, java.util.Base64's basic encoder and
 * decoder, AES-256-GCM with a 12-byte random IV and a 128-bit tag, the key the Base64 secret
 * string. Checked against AWS's published vectors (AthenaUdfsOracleTest). Every UDF returns NULL
 * for a NULL first argument, before any secret is read; nothing else is NULL-safe.
 */
public class AthenaUdfsReference extends UserDefinedFunctionHandler
{
    private static final int IV_BYTES = 12;
    private static final int TAG_BITS = 128;
    private static final int CHUNK = 4096;

    private final CachableSecretsManager secrets;
    private final SecureRandom random = new SecureRandom();

    public AthenaUdfsReference(SecretsManagerClient secretsManager)
    {
        super("athena_common_udfs");
        this.secrets = new CachableSecretsManager(secretsManager);
    }

    public String compress(String input)
    {
        if (input == null) {
            return null;
        }
        Deflater deflater = new Deflater();
        try {
            deflater.setInput(input.getBytes(StandardCharsets.UTF_8));
            deflater.finish();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] chunk = new byte[CHUNK];
            while (!deflater.finished()) {
                out.write(chunk, 0, deflater.deflate(chunk));
            }
            return Base64.getEncoder().encodeToString(out.toByteArray());
        }
        finally {
            deflater.end();
        }
    }

    public String decompress(String input)
    {
        if (input == null) {
            return null;
        }
        byte[] compressed = Base64.getDecoder().decode(input);
        Inflater inflater = new Inflater();
        try {
            inflater.setInput(compressed);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] chunk = new byte[CHUNK];
            while (!inflater.finished()) {
                int n = inflater.inflate(chunk);
                if (n == 0 && inflater.needsInput()) {
                    throw new DataFormatException("Input is truncated");
                }
                if (n == 0 && inflater.needsDictionary()) {
                    // AWS's loop would spin here until the Lambda timeout; fail instead.
                    throw new DataFormatException("A preset dictionary is needed");
                }
                out.write(chunk, 0, n);
            }
            return new String(out.toByteArray(), StandardCharsets.UTF_8);
        }
        catch (DataFormatException e) {
            throw new RuntimeException("Failed to decompress string", e);
        }
        finally {
            inflater.end();
        }
    }

    public String encrypt(String plaintext, String secretName)
    {
        if (plaintext == null) {
            return null;
        }
        try {
            byte[] iv = new byte[IV_BYTES];
            random.nextBytes(iv);
            Cipher cipher = cipher(Cipher.ENCRYPT_MODE, secretName, iv);
            byte[] sealed = cipher.doFinal(plaintext.getBytes(StandardCharsets.UTF_8));
            byte[] out = new byte[IV_BYTES + sealed.length];
            System.arraycopy(iv, 0, out, 0, IV_BYTES);
            System.arraycopy(sealed, 0, out, IV_BYTES, sealed.length);
            return Base64.getEncoder().encodeToString(out);
        }
        catch (GeneralSecurityException e) {
            throw new RuntimeException(e);
        }
    }

    public String decrypt(String ciphertext, String secretName)
    {
        if (ciphertext == null) {
            return null;
        }
        try {
            byte[] bytes = Base64.getDecoder().decode(ciphertext);
            byte[] iv = java.util.Arrays.copyOfRange(bytes, 0, Math.min(IV_BYTES, bytes.length));
            Cipher cipher = cipher(Cipher.DECRYPT_MODE, secretName, iv);
            byte[] plain = cipher.doFinal(bytes, IV_BYTES, bytes.length - IV_BYTES);
            return new String(plain, StandardCharsets.UTF_8);
        }
        catch (GeneralSecurityException e) {
            throw new RuntimeException(e);
        }
    }

    private Cipher cipher(int mode, String secretName, byte[] iv) throws GeneralSecurityException
    {
        byte[] key = Base64.getDecoder().decode(secrets.getSecret(secretName));
        Cipher cipher = Cipher.getInstance("AES_256/GCM/NoPadding");
        cipher.init(mode, new SecretKeySpec(key, "AES"), new GCMParameterSpec(TAG_BITS, iv));
        return cipher;
    }
}

-- encrypt(varchar, secret_name) -> varchar: AES-256-GCM, base64(iv || ciphertext || tag).
-- The secret's SecretString is a base64 32-byte key, e.g.
--   aws secretsmanager create-secret --name athena-udf/my_secret_name \
--       --secret-string "$(openssl rand -base64 32)"
USING EXTERNAL FUNCTION encrypt(col VARCHAR, secret_name VARCHAR)
    RETURNS VARCHAR
    LAMBDA 'ferrolake-athena-udf'
SELECT encrypt(email, 'athena-udf/my_secret_name') AS email_encrypted
FROM lake.customers
LIMIT 10;

-- decrypt(varchar, secret_name) -> varchar: reads what encrypt (or AWS's athena-udfs) wrote.
USING EXTERNAL FUNCTION decrypt(col VARCHAR, secret_name VARCHAR)
    RETURNS VARCHAR
    LAMBDA 'ferrolake-athena-udf'
SELECT decrypt('G/VP2sbMb7d4zE2HVl2XkiB5xUHpszlEjccEBsTVji209IaCjg==', 'athena-udf/my_secret_name');
-- plaintext  (with the athena-udfs test key i5YnyBO4gJKWuIQ+gjuJjcJ/5kUph9pmYFUbW7zf3PE=)

-- hash_pii(varchar | bigint, secret_name) -> varchar: HMAC-SHA256 hex keyed with the
-- secret string; stable, so hashed columns still join across tables.
USING EXTERNAL FUNCTION hash_pii(value VARCHAR, secret_name VARCHAR)
    RETURNS VARCHAR
    LAMBDA 'ferrolake-athena-udf'
SELECT hash_pii(email, 'athena-udf/pii_pepper') AS email_hash, count(*) AS orders
FROM lake.orders
GROUP BY 1;

USING EXTERNAL FUNCTION hash_pii(value BIGINT, secret_name VARCHAR)
    RETURNS VARCHAR
    LAMBDA 'ferrolake-athena-udf'
SELECT hash_pii(customer_id, 'athena-udf/pii_pepper') AS customer_key
FROM lake.orders
LIMIT 10;

-- mask_email(varchar) -> varchar: jane.doe@example.com -> j***@example.com.
USING EXTERNAL FUNCTION mask_email(email VARCHAR)
    RETURNS VARCHAR
    LAMBDA 'ferrolake-athena-udf'
SELECT mask_email(email) FROM lake.customers LIMIT 10;

-- anonymize_ip(varchar) -> varchar: IPv4 /24, IPv6 /48; not an IP -> NULL.
USING EXTERNAL FUNCTION anonymize_ip(ip VARCHAR)
    RETURNS VARCHAR
    LAMBDA 'ferrolake-athena-udf'
SELECT anonymize_ip(client_ip) AS network, count(*) AS sessions
FROM lake.clickstream
GROUP BY 1;

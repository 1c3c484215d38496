-- compress(varchar) -> varchar: zlib (level 6) + base64, byte-identical to AWS's athena-udfs.
USING EXTERNAL FUNCTION compress(col1 VARCHAR)
    RETURNS VARCHAR
    LAMBDA 'ferrolake-athena-udf'
SELECT compress('StringToBeCompressed');
-- eJwLLinKzEsPyXdKdc7PLShKLS5OTQEAUrEH9w==

-- decompress(varchar) -> varchar: the inverse; invalid input fails the query with the row.
USING EXTERNAL FUNCTION decompress(col1 VARCHAR)
    RETURNS VARCHAR
    LAMBDA 'ferrolake-athena-udf'
SELECT decompress('eJwLLinKzEsPyXdKdc7PLShKLS5OTQEAUrEH9w==');
-- StringToBeCompressed

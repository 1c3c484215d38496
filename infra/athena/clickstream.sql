-- parse_user_agent(varchar) -> ROW(category, name, version, os, os_version, vendor).
USING EXTERNAL FUNCTION parse_user_agent(ua VARCHAR)
    RETURNS ROW(category VARCHAR, name VARCHAR, version VARCHAR,
                os VARCHAR, os_version VARCHAR, vendor VARCHAR)
    LAMBDA 'ferrolake-athena-udf'
SELECT agent.category, agent.name, agent.os, count(*) AS hits
FROM (SELECT parse_user_agent(user_agent) AS agent FROM lake.clickstream)
GROUP BY 1, 2, 3
ORDER BY hits DESC;

-- detect_language(varchar) -> varchar: ISO 639-3 code (eng, deu, fra, ...).
USING EXTERNAL FUNCTION detect_language(text VARCHAR)
    RETURNS VARCHAR
    LAMBDA 'ferrolake-athena-udf'
SELECT detect_language(review_text) AS lang, count(*) AS reviews
FROM lake.product_reviews
GROUP BY 1;

-- flatten_json(varchar) -> varchar: the firehose-flatten flattener with its defaults, to
-- backfill raw JSON into the same flat columns the stream writes. Invalid JSON -> NULL.
USING EXTERNAL FUNCTION flatten_json(doc VARCHAR)
    RETURNS VARCHAR
    LAMBDA 'ferrolake-athena-udf'
SELECT flatten_json(raw) AS flat
FROM lake.clickstream_raw
WHERE dt = '2026-11-01';
-- The result files (one flattened JSON document per row) land in the workgroup's query
-- result location; point a JSON table at a copy of them, next to the Firehose output.
-- Backfilling with CTAS (CREATE TABLE ... AS USING EXTERNAL FUNCTION ... SELECT) is what
-- the feature is for, but whether Athena accepts a UDF inside CTAS depends on the engine:
-- a re:Post thread ("Athena engine version 3 incompatibilities using Lambda UDFs and
-- CTAS") reports "mismatched input 'USING'" on engine v3. Not verified here (no Athena).

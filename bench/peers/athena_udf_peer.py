"""Python peer of athena-udf: the `athena-udf` package (PyPI, `BaseAthenaUDF`: pyarrow
decode, a Python call per row, pyarrow encode) running the two functions ferrolake is
compared on:
- compress(varchar) -> varchar: zlib level 6, base64 — what AWS's athena-udfs `compress`
  returns (java.util.zip.Deflater defaults);
- hash_pii(varchar, varchar secret_name) -> varchar: HMAC-SHA256 hex, the key being the
  named secret (served from memory, as in ferrolake's benchmark: no Secrets Manager call)."""

import base64
import hashlib
import hmac
import zlib

from athena_udf import BaseAthenaUDF

SECRETS = {"pepper": b"bench-pepper-0123456789"}


class Compress(BaseAthenaUDF):
    @staticmethod
    def handle_athena_record(input_schema, output_schema, arguments):
        value = arguments[0]
        if value is None:
            return None
        return base64.b64encode(zlib.compress(value.encode(), 6)).decode()


class HashPii(BaseAthenaUDF):
    @staticmethod
    def handle_athena_record(input_schema, output_schema, arguments):
        value, secret = arguments[0], arguments[1]
        if value is None or secret is None:
            return None
        return hmac.new(SECRETS[secret], value.encode(), hashlib.sha256).hexdigest()


class Echo(BaseAthenaUDF):
    """The floor: decode and encode with a function that returns its argument."""

    @staticmethod
    def handle_athena_record(input_schema, output_schema, arguments):
        return arguments[0]


_BY_METHOD = {"compress": Compress(), "hash_pii": HashPii(), "echo": Echo()}


def handler(event, context):
    if event.get("@type") == "PingRequest":
        return BaseAthenaUDF.handle_ping(event)
    # The package reads the serde v1 shape (`outputSchema: {"schema": ...}`), which is what
    # Athena sends it (its Ping announces no serDeVersion). The benchmark documents are the
    # v2+ shape ferrolake is sent (`outputSchema` a bare string): wrap it, nothing else differs.
    if isinstance(event.get("outputSchema"), str):
        event["outputSchema"] = {"schema": event["outputSchema"]}
    return _BY_METHOD[event["methodName"]].lambda_handler(event, context)

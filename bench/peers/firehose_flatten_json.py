"""Python peer of firehose-flatten: a Firehose transformation handler built on the
`flatten_json` package (PyPI), with the options ferrolake is compared at: separator `_`,
arrays indexed (`a_0`, `a_1`; flatten_json's own behaviour)."""

import base64
import json

from flatten_json import flatten


def handler(event, context):
    output = []
    for record in event["records"]:
        try:
            payload = json.loads(base64.b64decode(record["data"]))
            line = json.dumps(flatten(payload, separator="_"), separators=(",", ":")) + "\n"
            output.append(
                {
                    "recordId": record["recordId"],
                    "result": "Ok",
                    "data": base64.b64encode(line.encode()).decode(),
                }
            )
        except Exception:  # noqa: BLE001 - a record that fails is handed back unchanged
            output.append(
                {"recordId": record["recordId"], "result": "ProcessingFailed", "data": record["data"]}
            )
    return {"records": output}

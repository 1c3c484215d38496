"""Python peer of firehose-flatten: the standard library only (`json`) with a recursive
flatten — separator `_`, arrays indexed — as a team would write it by hand."""

import base64
import json


def _flatten(value, prefix, out):
    if isinstance(value, dict):
        for key, child in value.items():
            _flatten(child, f"{prefix}_{key}" if prefix else key, out)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _flatten(child, f"{prefix}_{index}" if prefix else str(index), out)
    else:
        out[prefix] = value
    return out


def handler(event, context):
    output = []
    for record in event["records"]:
        try:
            payload = json.loads(base64.b64decode(record["data"]))
            line = json.dumps(_flatten(payload, "", {}), separators=(",", ":")) + "\n"
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

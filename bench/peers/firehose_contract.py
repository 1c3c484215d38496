"""The Firehose transformation contract both Python flatten peers share: per record base64
decode → json.loads → flatten → compact json.dumps + newline → base64, result `Ok`; a record
that fails is handed back unchanged as `ProcessingFailed`."""

import base64
import json


def transform(event, flatten):
    output = []
    for record in event["records"]:
        try:
            payload = json.loads(base64.b64decode(record["data"]))
            line = json.dumps(flatten(payload), separators=(",", ":")) + "\n"
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

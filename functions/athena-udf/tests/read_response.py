"""Read athena-udf responses with pyarrow, a non-Rust Arrow implementation.

For each response file given: decode records.schema and records.records as single IPC
messages, validate the batch fully, and print one JSON line with the row count, the
type, the values (as Python sees them) and the batch re-serialized by pyarrow, so the
Rust test can compare it losslessly with what it sent.
"""
import base64
import json
import sys

import pyarrow as pa


def main() -> None:
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            response = json.load(f)
        block = response["records"]
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(block["schema"])))
        batch = pa.ipc.read_record_batch(
            pa.py_buffer(base64.b64decode(block["records"])), schema
        )
        batch.validate()
        try:
            batch.validate(full=True)
            full = "ok"
        except pa.ArrowInvalid as e:
            # Athena's TIMESTAMP is Arrow Date(MILLISECOND) with sub-day values (the Java
            # SDK's DateMilliVector); the Arrow spec wants whole days there, pyarrow checks it.
            if not (pa.types.is_date64(schema.field(0).type) and "whole number of days" in str(e)):
                raise
            full = "date64 with sub-day milliseconds"
        print(
            json.dumps(
                {
                    "file": path,
                    "rows": batch.num_rows,
                    "full_validation": full,
                    "type": str(schema.field(0).type),
                    "values": json.loads(
                        json.dumps(batch.column(0).to_pylist(), default=str)
                    ),
                    "ipc": base64.b64encode(batch.serialize().to_pybytes()).decode(),
                }
            )
        )


if __name__ == "__main__":
    main()

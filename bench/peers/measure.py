"""Throughput of one Python peer on one input document, in-process, the way the Lambda
runtime drives it: json.loads(event) → handler(event, None) → json.dumps(response).
Repeats until `seconds` have passed (at least 3 runs) and prints the median as JSON.

    python measure.py <module> <event.json> <seconds>
"""

import importlib
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    module, path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    handler = importlib.import_module(module).handler
    with open(path, "rb") as f:
        raw = f.read()
    out = json.dumps(handler(json.loads(raw), None))  # warm-up, and the output size
    runs = []
    started = time.perf_counter()
    while len(runs) < 3 or time.perf_counter() - started < seconds:
        t = time.perf_counter()
        json.dumps(handler(json.loads(raw), None))
        runs.append(time.perf_counter() - t)
    print(json.dumps({"median_s": statistics.median(runs), "runs": len(runs), "input_bytes": len(raw),
                      "output_bytes": len(out)}))


if __name__ == "__main__":
    main()

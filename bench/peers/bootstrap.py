"""A minimal Lambda Runtime API client (the same contract the Rust binaries speak):
import the handler named by `_HANDLER` (`module.function`), then loop on
GET /invocation/next → handler(event, context) → POST /response (or /error).
Standard library only, so the measured cold start is the peer's own imports, not the
client's. AWS's awslambdaric would add its own start-up cost on top."""

import importlib
import json
import os
import sys
import traceback
import urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"


class Context:
    def __init__(self, request_id, deadline_ms):
        self.aws_request_id = request_id
        self.deadline_ms = deadline_ms


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as error:  # noqa: BLE001 - reported to the Runtime API as Lambda does
        body = json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()
        urllib.request.urlopen(urllib.request.Request(API + "/init/error", body, method="POST"))
        raise
    while True:
        with urllib.request.urlopen(API + "/invocation/next") as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            deadline = int(response.headers.get("Lambda-Runtime-Deadline-Ms", "0"))
            event = json.loads(response.read())
        try:
            result = json.dumps(handler(event, Context(request_id, deadline))).encode()
            url = f"{API}/invocation/{request_id}/response"
        except Exception as error:  # noqa: BLE001
            traceback.print_exc()
            result = json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()
            url = f"{API}/invocation/{request_id}/error"
        urllib.request.urlopen(urllib.request.Request(url, result, method="POST")).read()


if __name__ == "__main__":
    main()

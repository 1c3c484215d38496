"""Python peer of firehose-flatten: a Firehose transformation handler built on the
`flatten_json` package (PyPI), with the options ferrolake is compared at: separator `_`,
arrays indexed (`a_0`, `a_1`; flatten_json's own behaviour)."""

from firehose_contract import transform
from flatten_json import flatten


def handler(event, context):
    return transform(event, lambda payload: flatten(payload, separator="_"))

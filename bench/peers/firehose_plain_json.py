"""Python peer of firehose-flatten: the standard library only (`json`) with a recursive
flatten — separator `_`, arrays indexed — as a team would write it by hand."""

from firehose_contract import transform


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
    return transform(event, lambda payload: _flatten(payload, "", {}))

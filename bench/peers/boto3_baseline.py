"""The cold-start baseline of a Python Lambda that talks to AWS (what a Python
catalog-fetch, crawler-trigger or redshift-config pays before its first event): boto3
imported and a client built at init, a trivial handler."""

import boto3

KINESIS = boto3.client("kinesis")


def handler(event, context):
    return {"batchItemFailures": []}

"""The rules template.yaml must keep, checked on the parsed template (cfn-lint's own
CloudFormation YAML loader, so !Ref/!Sub/!GetAtt are understood).

Run by `make template-check` (part of `make test`). Exits non-zero listing every broken rule.
"""
import sys

from cfnlint.decode import cfn_yaml

FUNCTION = "AWS::Serverless::Function"


def resources(template):
    return template.get("Resources", {})


def function_timeout(template, props):
    return props.get("Timeout", template["Globals"]["Function"].get("Timeout", 3))


def statements(role):
    for policy in role.get("Properties", {}).get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            yield policy["PolicyName"], statement


def as_list(value):
    return value if isinstance(value, list) else [value]


def check(template):
    errors = []
    res = resources(template)
    globals_ = template["Globals"]["Function"]
    if globals_.get("Runtime") != "provided.al2023":
        errors.append("Globals: Runtime must be provided.al2023")
    if globals_.get("Architectures") != ["arm64"]:
        errors.append("Globals: Architectures must be [arm64]")
    if globals_.get("LoggingConfig", {}).get("LogFormat") != "JSON":
        errors.append("Globals: LoggingConfig.LogFormat must be JSON")

    queues_with_dlq = {
        name for name, r in res.items()
        if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r.get("Properties", {})
    }
    dead_letter_queues = set()
    for r in res.values():
        props = r.get("Properties", {})
        redrive = props.get("RedrivePolicy")
        if redrive:
            dead_letter_queues.add(redrive["deadLetterTargetArn"]["Fn::GetAtt"][0])
        if r["Type"] == FUNCTION:
            target = props.get("DeadLetterQueue", {}).get("TargetArn", {})
            if "Fn::GetAtt" in target:
                dead_letter_queues.add(target["Fn::GetAtt"][0])
            for event in props.get("Events", {}).values():
                destination = event.get("Properties", {}).get("DestinationConfig", {}).get("OnFailure", {}).get("Destination", {})
                if "Fn::GetAtt" in destination:
                    dead_letter_queues.add(destination["Fn::GetAtt"][0])

    functions = {name: r for name, r in res.items() if r["Type"] == FUNCTION}
    binaries = set()
    for name, fn in functions.items():
        meta = fn.get("Metadata", {})
        props = fn.get("Properties", {})
        if meta.get("BuildMethod") != "rust-cargolambda":
            errors.append(f"{name}: Metadata.BuildMethod must be rust-cargolambda")
        binaries.add(meta.get("BuildProperties", {}).get("Binary"))
        if "Runtime" in props and props["Runtime"] != "provided.al2023":
            errors.append(f"{name}: Runtime overridden")
        if "Architectures" in props and props["Architectures"] != ["arm64"]:
            errors.append(f"{name}: Architectures overridden")
        if props.get("LoggingConfig", {}).get("LogFormat", "JSON") != "JSON":
            errors.append(f"{name}: LogFormat must be JSON")
        if "Policies" in props:
            errors.append(f"{name}: use an explicit least-privilege Role, not SAM policy templates")
        timeout = function_timeout(template, props)
        for event_name, event in props.get("Events", {}).items():
            ep = event.get("Properties", {})
            if event["Type"] in ("SQS", "DynamoDB", "Kinesis"):
                if "ReportBatchItemFailures" not in ep.get("FunctionResponseTypes", []):
                    errors.append(f"{name}.{event_name}: FunctionResponseTypes must include ReportBatchItemFailures")
            if event["Type"] == "SQS":
                queue = ep["Queue"]["Fn::GetAtt"][0]
                if queue not in queues_with_dlq:
                    errors.append(f"{name}.{event_name}: queue {queue} has no dead-letter queue")
                visibility = res[queue]["Properties"].get("VisibilityTimeout", 30)
                if visibility < 6 * timeout:
                    errors.append(f"{name}.{event_name}: {queue} VisibilityTimeout {visibility} < 6 × timeout {timeout}")
    expected = {"catalog-fetch", "firehose-flatten", "athena-udf", "crawler-trigger", "redshift-config"}
    if binaries != expected:
        errors.append(f"functions build {sorted(b for b in binaries if b)}, expected {sorted(expected)}")

    for name, r in res.items():
        if r["Type"] == "AWS::SQS::Queue" and name not in queues_with_dlq and name not in dead_letter_queues:
            errors.append(f"{name}: every queue needs a dead-letter queue (or is one)")
        if r["Type"] == "AWS::IAM::Role":
            for policy, statement in statements(r):
                for action in as_list(statement.get("Action", [])):
                    if action == "*" or (isinstance(action, str) and action.endswith(":*")):
                        errors.append(f"{name}/{policy}/{statement.get('Sid')}: wildcard action {action}")
                if statement.get("Resource") == "*" and statement.get("Effect") == "Allow":
                    allowed = {"RandomPasswords", "VpcAttachment", "DataApiResults"}
                    if statement.get("Sid") not in allowed:
                        errors.append(f"{name}/{policy}/{statement.get('Sid')}: Resource '*' where the API allows a scope")

    stream = res.get("DeliveryStream", {}).get("Properties", {})
    processors = stream.get("ExtendedS3DestinationConfiguration", {}).get("ProcessingConfiguration", {}).get("Processors", [])
    arns = [p["ParameterValue"] for proc in processors for p in proc["Parameters"] if p["ParameterName"] == "LambdaArn"]
    if arns != [{"Fn::GetAtt": ["FirehoseFlattenFunction", "Arn"]}]:
        errors.append(f"DeliveryStream: the processor must be FirehoseFlattenFunction, found {arns}")
    if not stream.get("ExtendedS3DestinationConfiguration", {}).get("DynamicPartitioningConfiguration", {}).get("Enabled"):
        errors.append("DeliveryStream: dynamic partitioning must be enabled")
    return errors


def self_test(path):
    """The checker finds what it should: break one rule at a time in a copy."""
    import copy

    template = cfn_yaml.load(path)
    breakages = {
        "ReportBatchItemFailures": lambda t: t["Resources"]["CatalogFetchFunction"]["Properties"]["Events"]["Changes"]["Properties"].pop("FunctionResponseTypes"),
        "VisibilityTimeout": lambda t: t["Resources"]["CrawlerQueue"]["Properties"].__setitem__("VisibilityTimeout", 60),
        "wildcard action": lambda t: t["Resources"]["AthenaUdfRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][1].__setitem__("Action", "secretsmanager:*"),
        "Resource '*'": lambda t: t["Resources"]["AthenaUdfRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][1].__setitem__("Resource", "*"),
        "Architectures": lambda t: t["Globals"]["Function"].__setitem__("Architectures", ["x86_64"]),
        "no dead-letter queue": lambda t: t["Resources"]["CatalogQueue"]["Properties"].pop("RedrivePolicy"),
        "processor must be FirehoseFlattenFunction": lambda t: t["Resources"]["DeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]["ProcessingConfiguration"]["Processors"][0]["Parameters"][0].__setitem__("ParameterValue", "arn:aws:lambda:x"),
    }
    for expected, breakage in breakages.items():
        broken = copy.deepcopy(template)
        breakage(broken)
        found = check(broken)
        if not any(expected in e for e in found):
            print(f"self-test: breaking {expected!r} was not detected: {found}")
            sys.exit(1)
    print(f"self-test: all {len(breakages)} deliberate breakages detected")


def main(path):
    self_test(path)
    template = cfn_yaml.load(path)
    errors = check(template)
    for e in errors:
        print(f"template rule broken: {e}")
    if errors:
        sys.exit(1)
    print(f"{path}: every template rule holds ({len(resources(template))} resources)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")

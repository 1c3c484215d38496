"""The rules template.yaml must keep, checked on the parsed template (cfn-lint's own
CloudFormation YAML loader, so !Ref/!Sub/!GetAtt are understood).

Run by `make template-check` (part of `make test`). Exits non-zero listing every broken rule.
"""
import glob
import json
import os
import re
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
                # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html:
                # at least six times the timeout plus MaximumBatchingWindowInSeconds.
                _, window = parameter_range(template, ep.get("MaximumBatchingWindowInSeconds", 0))
                if visibility < 6 * timeout + (window or 0):
                    errors.append(f"{name}.{event_name}: {queue} VisibilityTimeout {visibility} < 6 × timeout {timeout} + batching window {window or 0}")
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
    errors.extend(aws_contract_rules(template))
    return errors


# AWS create-time and runtime contracts that cfn-lint, sam validate and checkov accept but AWS
# refuses (or that fail silently once deployed). Each message names the resource, the
# property, the rule and its documentation (docs/aws-contracts.md has the rows).
DOC = {
    "recrawl": "https://docs.aws.amazon.com/glue/latest/dg/incremental-crawls.html",
    "sns-kms": "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services",
    "sqs-scaling": "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html",
    "esm-batch": "https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html",
    "rotation": "https://docs.aws.amazon.com/secretsmanager/latest/userguide/troubleshoot_rotation.html",
    "reserved": "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html",
    "glue-iam": "https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html",
    "execute-api": "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html",
    "serverless-iam": "https://docs.aws.amazon.com/redshift/latest/mgmt/serverless-iam.html",
}


def parameter_range(template, value):
    """(min, max) a property can take: a literal, or a parameter's MinValue..MaxValue."""
    if isinstance(value, dict) and "Ref" in value:
        p = template.get("Parameters", {}).get(value["Ref"], {})
        default = p.get("Default")
        return p.get("MinValue", default), p.get("MaxValue", default)
    return value, value


def granted(role, action):
    """Statements of `role` (including !If branches) that allow `action`."""
    found = []
    for policy in role.get("Properties", {}).get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            branches = statement["Fn::If"][1:2] if "Fn::If" in statement else [statement]
            for st in branches:
                if st.get("Effect") == "Allow" and action in as_list(st.get("Action", [])):
                    found.append(st)
    return found


def resource_text(statement):
    return json.dumps(statement.get("Resource"))


def aws_contract_rules(template):
    errors = []
    res = resources(template)
    alarm_topics = set()
    for name, r in res.items():
        if r["Type"] == "AWS::CloudWatch::Alarm":
            for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
                for action in r.get("Properties", {}).get(key, []):
                    if isinstance(action, dict) and "Ref" in action:
                        alarm_topics.add(action["Ref"])
    rotation_functions = {
        r["Properties"]["FunctionName"]["Fn::GetAtt"][0]
        for r in res.values()
        if r["Type"] == "AWS::Lambda::Permission"
        and r.get("Properties", {}).get("Principal") == "secretsmanager.amazonaws.com"
        and isinstance(r["Properties"].get("FunctionName"), dict)
        and "Fn::GetAtt" in r["Properties"]["FunctionName"]
    }
    for name, r in res.items():
        props = r.get("Properties", {})
        if r["Type"] == "AWS::Glue::Crawler":
            recrawl = props.get("RecrawlPolicy", {}).get("RecrawlBehavior", "CRAWL_EVERYTHING")
            policy = props.get("SchemaChangePolicy", {})
            if recrawl == "CRAWL_NEW_FOLDERS_ONLY" and (
                policy.get("UpdateBehavior", "UPDATE_IN_DATABASE") != "LOG"
                or policy.get("DeleteBehavior", "DEPRECATE_IN_DATABASE") != "LOG"
            ):
                errors.append(
                    f"{name}: RecrawlPolicy.RecrawlBehavior CRAWL_NEW_FOLDERS_ONLY allows only "
                    f"SchemaChangePolicy UpdateBehavior LOG and DeleteBehavior LOG (Glue refuses the crawler) — {DOC['recrawl']}"
                )
            if recrawl == "CRAWL_NEW_FOLDERS_ONLY" or policy.get("UpdateBehavior") == "LOG":
                errors.append(
                    f"{name}: SchemaChangePolicy.UpdateBehavior must be UPDATE_IN_DATABASE with CRAWL_EVERYTHING: "
                    f"flattened records gain columns and the table must pick them up — {DOC['recrawl']}"
                )
        if r["Type"] == "AWS::SNS::Topic" and name in alarm_topics:
            key = props.get("KmsMasterKeyId")
            if isinstance(key, str) and key.lower().startswith("alias/aws/"):
                errors.append(
                    f"{name}: KmsMasterKeyId {key} is the AWS-managed key; CloudWatch alarms cannot publish "
                    f"to it (its key policy cannot grant cloudwatch.amazonaws.com) — {DOC['sns-kms']}"
                )
        if r["Type"] != FUNCTION:
            continue
        events = props.get("Events", {})
        sqs_events = {n: e for n, e in events.items() if e["Type"] == "SQS"}
        if "ReservedConcurrentExecutions" in props:
            if sqs_events:
                errors.append(
                    f"{name}: ReservedConcurrentExecutions on an SQS-triggered function: the poller scales past it, "
                    f"throttled batches count as receives and good messages reach the DLQ; use the event's "
                    f"ScalingConfig.MaximumConcurrency — {DOC['sqs-scaling']}"
                )
            if name in rotation_functions:
                errors.append(
                    f"{name}: ReservedConcurrentExecutions on a Secrets Manager rotation function: throttled "
                    f"rotation steps fail the rotation — {DOC['rotation']}"
                )
            if not sqs_events and name not in rotation_functions:
                errors.append(
                    f"{name}: ReservedConcurrentExecutions comes out of the account pool, which must keep 100 "
                    f"unreserved (a new account's quota may be lower): the first deploy can fail — {DOC['reserved']}"
                )
        for event_name, event in sqs_events.items():
            ep = event.get("Properties", {})
            batch_lo, batch_hi = parameter_range(template, ep.get("BatchSize", 10))
            window_lo, _ = parameter_range(template, ep.get("MaximumBatchingWindowInSeconds", 0))
            if (batch_hi or 10) > 10 and (window_lo or 0) < 1:
                errors.append(
                    f"{name}.{event_name}: BatchSize can exceed 10 while MaximumBatchingWindowInSeconds can be 0; "
                    f"Lambda requires a window of at least 1 s above 10 — {DOC['esm-batch']}"
                )
            cap = ep.get("ScalingConfig", {}).get("MaximumConcurrency")
            if cap is None:
                errors.append(f"{name}.{event_name}: SQS event needs ScalingConfig.MaximumConcurrency (2–1000) to cap concurrency — {DOC['sqs-scaling']}")
            elif not 2 <= int(cap) <= 1000:
                errors.append(f"{name}.{event_name}: ScalingConfig.MaximumConcurrency {cap} outside 2–1000 — {DOC['sqs-scaling']}")

    # crawler-trigger's table routes need the fast path's Glue actions on catalog, database
    # and table ARNs.
    trigger = res.get("CrawlerTriggerFunction", {}).get("Properties", {})
    routes = trigger.get("Environment", {}).get("Variables", {}).get("CRAWLER_ROUTES")
    routes_text = routes.get("Fn::Sub", "") if isinstance(routes, dict) else str(routes or "")
    if routes is not None and '"table"' not in routes_text:
        errors.append(
            "CrawlerTriggerFunction: CRAWLER_ROUTES routes to crawlers only, so a new partition is queryable only "
            "after a crawl (minutes, capped by MIN_CRAWL_INTERVAL_SECONDS); route events/ to its table (fast path) "
            f"with the crawler as fallback — {DOC['glue-iam']}"
        )
    if '"table"' in routes_text:
        role = res.get(trigger.get("Role", {}).get("Fn::GetAtt", [""])[0], {})
        for action in ("glue:GetTable", "glue:BatchCreatePartition"):
            statements_ = granted(role, action)
            text = " ".join(resource_text(st) for st in statements_)
            if not statements_:
                errors.append(f"CrawlerTriggerRole: CRAWLER_ROUTES has a table route but {action} is not granted — {DOC['glue-iam']}")
            elif not all(part in text for part in (":catalog", ":database/", ":table/")):
                errors.append(f"CrawlerTriggerRole: {action} must be granted on the catalog, database and table ARNs — {DOC['glue-iam']}")

    # catalog-fetch with CatalogAuth=sigv4 calls an IAM-authorised API: execute-api:Invoke.
    fetch_role = res.get("CatalogFetchRole", {})
    if "sigv4" in template.get("Parameters", {}).get("CatalogAuth", {}).get("AllowedValues", []):
        if not granted(fetch_role, "execute-api:Invoke"):
            errors.append(f"CatalogFetchRole: CatalogAuth allows sigv4 but execute-api:Invoke is not granted — {DOC['execute-api']}")
    # redshift-config's serverless targets call redshift-serverless:GetCredentials.
    if not granted(res.get("RedshiftConfigRole", {}), "redshift-serverless:GetCredentials"):
        errors.append(f"RedshiftConfigRole: serverless targets call redshift-serverless:GetCredentials, which is not granted — {DOC['serverless-iam']}")
    errors.extend(athena_sql_secrets(template))
    return errors


def athena_sql_secrets(template):
    """The shipped Athena SQL names secrets athena-udf may read (UdfSecretPrefix)."""
    errors = []
    prefix = template.get("Parameters", {}).get("UdfSecretPrefix", {}).get("Default", "")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "infra", "athena")
    call = re.compile(r"\b(encrypt|decrypt|hash_pii)\s*\([^;]*?,\s*'([^']*)'\s*\)", re.S)
    for path in sorted(glob.glob(os.path.join(root, "*.sql"))):
        sql = "\n".join(l for l in open(path, encoding="utf-8").read().splitlines() if not l.lstrip().startswith("--"))
        for function, secret in call.findall(sql):
            if not secret.startswith(prefix):
                errors.append(
                    f"infra/athena/{os.path.basename(path)}: {function}(…, '{secret}') names a secret outside "
                    f"UdfSecretPrefix '{prefix}'; AthenaUdfRole may not read it (SecretUnavailable)"
                )
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
        # AWS contracts (issue: first deploy on real AWS); each is a defect the template had.
        "CRAWL_NEW_FOLDERS_ONLY allows only": lambda t: t["Resources"]["EventsCrawler"]["Properties"]["RecrawlPolicy"].__setitem__("RecrawlBehavior", "CRAWL_NEW_FOLDERS_ONLY"),
        "must be UPDATE_IN_DATABASE": lambda t: t["Resources"]["EventsCrawler"]["Properties"]["SchemaChangePolicy"].update(UpdateBehavior="LOG"),
        "CloudWatch alarms cannot publish": lambda t: t["Resources"]["AlarmTopic"]["Properties"].__setitem__("KmsMasterKeyId", "alias/aws/sns"),
        "ReservedConcurrentExecutions on an SQS-triggered": lambda t: t["Resources"]["CatalogFetchFunction"]["Properties"].__setitem__("ReservedConcurrentExecutions", 20),
        "rotation function": lambda t: t["Resources"]["RedshiftConfigFunction"]["Properties"].__setitem__("ReservedConcurrentExecutions", 1),
        "must keep 100": lambda t: t["Resources"]["AthenaUdfFunction"]["Properties"].__setitem__("ReservedConcurrentExecutions", 100),
        "window of at least 1 s": lambda t: t["Parameters"]["CatalogBatchWindowSeconds"].__setitem__("MinValue", 0),
        "needs ScalingConfig.MaximumConcurrency": lambda t: t["Resources"]["CrawlerTriggerFunction"]["Properties"]["Events"]["ObjectsCreated"]["Properties"].pop("ScalingConfig"),
        "routes to crawlers only": lambda t: t["Resources"]["CrawlerTriggerFunction"]["Properties"]["Environment"]["Variables"].__setitem__("CRAWLER_ROUTES", {"Fn::Sub": '[{"bucket":"b","prefix":"events/","crawler":"c"}]'}),
        "glue:BatchCreatePartition is not granted": lambda t: t["Resources"]["CrawlerTriggerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].pop(),
        "execute-api:Invoke is not granted": lambda t: t["Resources"]["CatalogFetchRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].pop(),
        "redshift-serverless:GetCredentials, which is not granted": lambda t: [t["Resources"]["RedshiftConfigRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].remove(st) for st in list(t["Resources"]["RedshiftConfigRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]) if "Fn::If" in st],
        "outside UdfSecretPrefix": lambda t: t["Parameters"]["UdfSecretPrefix"].__setitem__("Default", "elsewhere/"),
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

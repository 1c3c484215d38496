"""moto in server mode with IAM enforced, for `make demo` and the e2e test (tests/local-aws/src/demo/iam.rs).

moto 5.2.5 checks SigV4 signatures and identity policies once INITIAL_NO_AUTH_ACTION_COUNT
requests have passed, but it authorises every request against the resource `*` except for
IAM, STS, SQS and S3 (only their responses define `_determine_resource`). A least-privilege
statement naming a real ARN then never matches, and a statement narrowed to the wrong
resource is never caught. This launcher, before it starts moto's server:

- resolves each request's resource ARNs for the actions in RESOLVERS (Kinesis streams,
  Firehose delivery streams, the Glue catalog/database/table/crawler, Secrets Manager
  secrets, DynamoDB tables/streams, Redshift dbuser/dbname/cluster, the Redshift Data API,
  SNS topics). Like AWS, a request naming several resources (Glue table operations, Redshift
  GetClusterCredentials with a DbName) must be allowed on every one of them. Actions not in
  RESOLVERS keep moto's resource (`*`, or its own for IAM, STS, SQS and S3);
- names the action and the resource in every AccessDenied message, as AWS does, and records
  every denial (GET /ferrolake-iam/report lists them with the counts);
- evaluates an Allow statement whose Condition fails as not applying (moto returns an
  explicit deny for it, which would also override other statements that allow the call);
- lets the harness's admin user play an AWS service principal when it assumes a role
  (header X-Ferrolake-Service-Principal: lambda.amazonaws.com), so the role's trust policy
  is checked for that service and its conditions (sts:ExternalId) instead of failing on
  moto's comparison of a `Service` principal with a user ARN;
- creates that admin user (AdministratorAccess-style inline policy) directly in the
  backend and writes its keys to --admin-keys before serving, so no request ever runs
  unauthenticated (INITIAL_NO_AUTH_ACTION_COUNT=0).

Usage: moto_strict.py -H 127.0.0.1 -p PORT --admin-keys FILE
"""
import argparse
import base64
import io
import json
import os
import sys
import threading

# moto reads these at import time.
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
# AWS managed policies (the crawler role attaches AWSGlueServiceRole) exist only when loaded.
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"

from moto.core import exceptions as core_exceptions  # noqa: E402
from moto.core.responses import ActionAuthenticatorMixin  # noqa: E402
from moto.iam import access_control  # noqa: E402
from moto.iam.models import iam_backends  # noqa: E402
from moto.iam.utils import format_incoming_conditional_values  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.s3 import exceptions as s3_exceptions  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

ACCOUNT = "123456789012"
ADMIN_USER = "ferrolake-harness"
SERVICE_HEADER = "X-Ferrolake-Service-Principal"

LOCK = threading.Lock()
STATS = {"requests_checked": 0, "policies_evaluated": 0, "principals": set(), "denied": []}


def record(principal, action, resource, allowed, policies):
    with LOCK:
        STATS["requests_checked"] += 1
        STATS["policies_evaluated"] += policies
        STATS["principals"].add(principal)
        if not allowed:
            STATS["denied"].append(
                {"principal": principal, "action": action, "resource": resource}
            )


# ---------------------------------------------------------------- resource resolution


def params_of(response):
    """The request's parameters: the JSON body (JSON protocols) or the query/form values."""
    body = response.body
    if isinstance(body, dict):
        return body  # some responses (DynamoDB) replace the body with its parsed JSON
    raw = getattr(response, "raw_body", None)
    if isinstance(raw, (bytes, str)) and raw:
        body = raw
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.lstrip().startswith("{"):
        try:
            return json.loads(body)
        except ValueError:
            pass
    return {k: (v[0] if isinstance(v, list) and v else v) for k, v in response.querystring.items()}


def arn(response, service, rest):
    return f"arn:{response.partition}:{service}:{response.region}:{ACCOUNT}:{rest}"


def kinesis_stream(response, p):
    if p.get("StreamARN"):
        return [p["StreamARN"]]
    name = p.get("StreamName")
    if not name and p.get("ShardIterator"):
        # moto's iterator is base64("<stream>:<shard>:<sequence>").
        try:
            name = base64.b64decode(p["ShardIterator"]).decode().split(":")[0]
        except (ValueError, UnicodeDecodeError):
            name = None
    return [arn(response, "kinesis", f"stream/{name}")] if name else None


def firehose_stream(response, p):
    name = p.get("DeliveryStreamName")
    return [arn(response, "firehose", f"deliverystream/{name}")] if name else None


def glue_table(response, p):
    # Glue authorises table and partition operations on the catalog, the database and the
    # table together (https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html).
    database = p.get("DatabaseName")
    table = p.get("TableName") or p.get("Name") or (p.get("TableInput") or {}).get("Name")
    if not database:
        return None
    out = [arn(response, "glue", "catalog"), arn(response, "glue", f"database/{database}")]
    out.append(arn(response, "glue", f"table/{database}/{table or '*'}"))
    return out


def glue_database(response, p):
    name = p.get("Name") or (p.get("DatabaseInput") or {}).get("Name")
    if not name:
        return None
    return [arn(response, "glue", "catalog"), arn(response, "glue", f"database/{name}")]


def glue_crawler(response, p):
    name = p.get("Name") or p.get("CrawlerName")
    return [arn(response, "glue", f"crawler/{name}")] if name else None


def secret(response, p):
    secret_id = p.get("SecretId") or p.get("Name")
    if not secret_id:
        return None
    if secret_id.startswith("arn:"):
        return [secret_id]
    # A name: AWS authorises the secret's full ARN (with its random suffix).
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[ACCOUNT][response.region]
    try:
        return [backend.describe_secret(secret_id).arn]
    except Exception:  # noqa: BLE001 — a secret to be created has no ARN yet
        return [arn(response, "secretsmanager", f"secret:{secret_id}-XXXXXX")]


def dynamodb_table(response, p):
    if p.get("StreamArn"):
        return [p["StreamArn"]]
    name = p.get("TableName")
    if not name:
        return None
    if p.get("IndexName"):
        return [arn(response, "dynamodb", f"table/{name}/index/{p['IndexName']}")]
    return [arn(response, "dynamodb", f"table/{name}")]


def redshift_credentials(response, p):
    cluster = p.get("ClusterIdentifier")
    if not cluster:
        return None
    out = [arn(response, "redshift", f"dbuser:{cluster}/{p.get('DbUser', '')}")]
    if p.get("DbName"):
        out.append(arn(response, "redshift", f"dbname:{cluster}/{p['DbName']}"))
    return out


def redshift_cluster(response, p):
    cluster = p.get("ClusterIdentifier")
    return [arn(response, "redshift", f"cluster:{cluster}")] if cluster else None


def data_api_target(response, p):
    if p.get("WorkgroupName"):
        name = p["WorkgroupName"]
        return [name if name.startswith("arn:") else arn(response, "redshift-serverless", f"workgroup/{name}")]
    return redshift_cluster(response, p)


def sns_topic(response, p):
    return [p["TopicArn"]] if p.get("TopicArn") else None


RESOLVERS = {}
for _action in [
    "PutRecord", "PutRecords", "GetRecords", "GetShardIterator", "DescribeStream",
    "DescribeStreamSummary", "ListShards", "SubscribeToShard", "AddTagsToStream",
]:
    RESOLVERS[f"kinesis:{_action}"] = kinesis_stream
for _action in [
    "PutRecord", "PutRecordBatch", "DescribeDeliveryStream", "UpdateDestination",
]:
    RESOLVERS[f"firehose:{_action}"] = firehose_stream
for _action in [
    "GetTable", "CreateTable", "UpdateTable", "DeleteTable", "GetPartition", "GetPartitions",
    "CreatePartition", "BatchCreatePartition", "BatchGetPartition", "UpdatePartition",
    "BatchDeletePartition", "GetTables",
]:
    RESOLVERS[f"glue:{_action}"] = glue_table
for _action in ["GetDatabase", "CreateDatabase", "UpdateDatabase", "DeleteDatabase"]:
    RESOLVERS[f"glue:{_action}"] = glue_database
for _action in ["StartCrawler", "GetCrawler", "StopCrawler", "UpdateCrawler", "DeleteCrawler"]:
    RESOLVERS[f"glue:{_action}"] = glue_crawler
for _action in [
    "GetSecretValue", "DescribeSecret", "PutSecretValue", "UpdateSecretVersionStage",
    "CreateSecret", "RotateSecret", "DeleteSecret", "UpdateSecret",
]:
    RESOLVERS[f"secretsmanager:{_action}"] = secret
for _action in [
    "Query", "Scan", "GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem",
    "DescribeTable", "DescribeStream", "GetShardIterator",
]:
    RESOLVERS[f"dynamodb:{_action}"] = dynamodb_table
RESOLVERS["redshift:GetClusterCredentials"] = redshift_credentials
RESOLVERS["redshift:GetClusterCredentialsWithIAM"] = redshift_cluster
RESOLVERS["redshift:DescribeClusters"] = redshift_cluster
RESOLVERS["redshift-data:ExecuteStatement"] = data_api_target
RESOLVERS["redshift-data:BatchExecuteStatement"] = data_api_target
for _action in ["Publish", "PublishBatch", "Subscribe", "GetTopicAttributes"]:
    RESOLVERS[f"sns:{_action}"] = sns_topic


# ---------------------------------------------------------------- evaluation


class StrictDenied(core_exceptions._RESTError):
    code = 403


class StrictDeniedJson(core_exceptions.JsonRESTError):
    code = 400


def denial_message(principal, action, resource):
    return (
        f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action"
    )


class StrictMixin:
    """Shared by the normal and the S3 request checks."""

    _raw_body = None

    def _create_aws_request(self):
        # werkzeug parses a form body into request.form and leaves request.data empty, so
        # moto re-encodes the parsed values to check the signature, differently from the
        # SDK (spaces as '+', not '%20'): any Publish with a space in it would fail. The
        # body as sent is kept by RawBody.
        request = super()._create_aws_request()
        if self._raw_body is not None:
            request.data = self._raw_body
        return request

    def strict_check(self, resources):
        try:
            policies = self._access_key.collect_policies()
        except Exception:  # noqa: BLE001 — moto raises for a principal with no policies
            policies = []
        principal = self._access_key.arn
        for resource in resources:
            self._strict_resource = resource
            allowed = False
            try:
                access_control.IAMRequestBase.check_action_permitted(self, resource)
                allowed = True
            finally:
                record(principal, self._action, resource, allowed, len(policies))

    def _check_role_trust_relationship(self, role_arn):
        role = self.backend.get_role_by_arn(role_arn)
        document = role.assume_role_policy_document
        if isinstance(document, str):
            document = json.loads(document)
        statements = document.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        caller = self._access_key.arn
        service = self._headers.get(SERVICE_HEADER)
        # Only the harness plays a service: a function's own credentials cannot.
        plays_service = service and caller.endswith(f":user/{ADMIN_USER}")
        incoming = format_incoming_conditional_values(self._data)
        allowed = False
        for statement in statements:
            checker = access_control.IAMPolicyStatement(statement)
            if not checker._check_element_matches("Action", self._action):
                continue
            principal = statement.get("Principal", {})
            if principal == "*":
                matches = True
            elif plays_service:
                matches = service in as_list(principal.get("Service"))
            else:
                aws = as_list(principal.get("AWS"))
                matches = "*" in aws or caller in aws
            if not matches or not checker._check_conditions(incoming):
                continue
            if statement.get("Effect") == "Deny":
                return False
            allowed = True
        return allowed


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class StrictIAMRequest(StrictMixin, access_control.IAMRequest):
    def __init__(self, resources, json_protocol, raw_body, **kwargs):
        self._strict_resources = resources
        self._json_protocol = json_protocol
        self._raw_body = raw_body
        super().__init__(**kwargs)

    def check_action_permitted(self, resource):
        self.strict_check(self._strict_resources or [resource])

    def _raise_access_denied(self):
        message = denial_message(self._access_key.arn, self._action, self._strict_resource)
        if self._json_protocol:
            raise StrictDeniedJson("AccessDeniedException", message)
        raise StrictDenied("AccessDenied", message)


class S3StrictDenied(s3_exceptions.S3ClientError):
    code = 403

    def __init__(self, message):
        super().__init__("AccessDenied", message)


class StrictS3IAMRequest(StrictMixin, access_control.S3IAMRequest):
    def check_action_permitted(self, resource):
        self.strict_check([resource])

    def _raise_access_denied(self):
        raise S3StrictDenied(
            denial_message(self._access_key.arn, self._action, self._strict_resource)
        )


def authorize_normal(self, resource="*"):
    action = None
    resources = None
    auth = self.headers.get("Authorization", "")
    scope = auth.partition("Credential=")[2].partition(",")[0].split("/")
    if len(scope) > 3:
        action = f"{scope[3]}:{self._get_action()}"
        resolver = RESOLVERS.get(action)
        if resolver is not None:
            resources = resolver(self, params_of(self))
    json_protocol = "json" in (self.headers.get("Content-Type") or "")

    raw_body = self.normalized_request.environ.get(RAW_BODY)

    def make(**kwargs):
        return StrictIAMRequest(resources, json_protocol, raw_body, **kwargs)

    self._authenticate_and_authorize_action(make, resource)


def authorize_s3(self, bucket_name=None, key_name=None):
    name = f"{bucket_name or '*'}/{key_name}" if key_name else (bucket_name or "*")
    self._authenticate_and_authorize_action(StrictS3IAMRequest, f"arn:{self.partition}:s3:::{name}")


def statement_permits(self, action, resource="*", principal=None, incoming_condition_values=None):
    """moto's statement evaluation, except that a failed Condition makes the statement not
    apply (NEUTRAL), as in AWS, instead of an explicit deny."""
    concerned = (
        not self._check_element_matches("NotAction", action)
        if "NotAction" in self._statement
        else self._check_element_matches("Action", action)
    )
    if not concerned:
        return access_control.PermissionResult.NEUTRAL
    if self.is_unknown_principal(self._statement.get("Principal")):
        return access_control.PermissionResult.NEUTRAL
    if principal and not self._check_principal(principal):
        return access_control.PermissionResult.NEUTRAL
    if not self._check_conditions(incoming_condition_values):
        return access_control.PermissionResult.NEUTRAL
    if not self._statement.get("Resource") and not self._statement.get("NotResource"):
        return access_control.PermissionResult.PERMITTED
    if "NotResource" in self._statement:
        applies = not self._check_element_matches("NotResource", resource)
    else:
        applies = self._check_element_matches("Resource", resource)
    if not applies:
        return access_control.PermissionResult.NEUTRAL
    if self._statement.get("Effect") == "Allow":
        return access_control.PermissionResult.PERMITTED
    return access_control.PermissionResult.DENIED


ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = authorize_normal
ActionAuthenticatorMixin._authenticate_and_authorize_s3_action = authorize_s3
access_control.IAMPolicyStatement.is_action_permitted = statement_permits


# ---------------------------------------------------------------- server


def create_admin(path):
    """The harness's principal: created in the backend, before any request is served."""
    backend = iam_backends[ACCOUNT]["aws"]
    backend.create_user("us-east-1", ADMIN_USER)
    backend.put_user_policy(
        ADMIN_USER,
        "harness-admin",
        json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    key = backend.create_access_key(ADMIN_USER)
    keys = {
        "AccessKeyId": key.access_key_id,
        "SecretAccessKey": key.secret_access_key,
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/{ADMIN_USER}",
    }
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(keys, f)
    os.replace(tmp, path)


RAW_BODY = "ferrolake.raw_body"


class RawBody:
    """WSGI middleware: keeps a form body as sent (see StrictMixin._create_aws_request)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            length = environ.get("CONTENT_LENGTH")
            stream = environ["wsgi.input"]
            body = stream.read(int(length)) if length else stream.read()
            environ[RAW_BODY] = body
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


class Report:
    """WSGI middleware: GET /ferrolake-iam/report, everything else to moto."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/ferrolake-iam/report":
            with LOCK:
                body = json.dumps(
                    {
                        "requests_checked": STATS["requests_checked"],
                        "policies_evaluated": STATS["policies_evaluated"],
                        "principals": sorted(STATS["principals"]),
                        "denied": STATS["denied"],
                        "resolved_actions": sorted(RESOLVERS),
                    }
                ).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        return self.app(environ, start_response)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--admin-keys", required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    create_admin(args.admin_keys)
    run_simple(
        args.host,
        args.port,
        Report(RawBody(app)),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    sys.exit(main())

"""docs/aws-contracts.md covers every AWS call and every template property, and every role
grants what its function calls.

Run by `make template-check` (part of `make test`). It finds:
- every AWS SDK operation the function crates call: a zero-argument builder call `.op()`
  whose name is an operation of an aws-sdk crate the file uses (the operation names come
  from the SDK crates' own `src/operation/` folders, located with `cargo metadata`);
- every resource type and top-level property set in template.yaml (SAM functions also by
  their Globals and each event type's properties);
and checks that docs/aws-contracts.md has a row for each, that each row cites a
docs.aws.amazon.com page, that each backticked name in its "Enforced by" column exists in
the repository's code or tests, and that the role of every function that makes a call
allows the call's IAM action. Exits non-zero listing what is missing. `--self-test` breaks
the inputs on purpose and expects each breakage to be found.
"""
import json
import os
import re
import subprocess
import sys

from cfnlint.decode import cfn_yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DOC = os.path.join(ROOT, "docs", "aws-contracts.md")

# aws-sdk crate → IAM service prefix (the action names equal the operation names).
SERVICES = {
    "dynamodb": "dynamodb",
    "firehose": "firehose",
    "glue": "glue",
    "kinesis": "kinesis",
    "redshift": "redshift",
    "redshiftdata": "redshift-data",
    "redshiftserverless": "redshift-serverless",
    "s3": "s3",
    "secretsmanager": "secretsmanager",
    "sns": "sns",
    "sqs": "sqs",
}
# Function crate → the role its binary runs with. The shared crate's calls are made by the
# functions the doc's "Called by" column names.
ROLES = {
    "catalog-fetch": "CatalogFetchRole",
    "firehose-flatten": "FirehoseFlattenRole",
    "athena-udf": "AthenaUdfRole",
    "crawler-trigger": "CrawlerTriggerRole",
    "redshift-config": "RedshiftConfigRole",
}
# Calls that are not SDK operations but still AWS calls with an IAM action.
EXTRA_CALLS = {
    # SigV4-signed HTTP GET to an IAM-authorised API Gateway (CatalogAuth=sigv4).
    "execute-api:Invoke": {"catalog-fetch": r"\"execute-api\""},
}


def pascal(snake):
    return "".join(part.capitalize() for part in snake.split("_"))


def sdk_operations():
    """aws-sdk crate short name → its operation names (snake_case)."""
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--offline"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
    )
    ops = {}
    for package in meta["packages"]:
        name = package["name"]
        if not name.startswith("aws-sdk-"):
            continue
        short = name[len("aws-sdk-"):]
        folder = os.path.join(os.path.dirname(package["manifest_path"]), "src", "operation")
        if os.path.isdir(folder):
            ops[short] = {f for f in os.listdir(folder) if os.path.isdir(os.path.join(folder, f))}
    return ops


def production_sources():
    """(crate, path, text) of every production source file of the function crates."""
    for crate in sorted(os.listdir(os.path.join(ROOT, "functions"))):
        src = os.path.join(ROOT, "functions", crate, "src")
        for folder, _, files in os.walk(src):
            if os.sep + "testing" in folder:
                continue
            for f in files:
                if not f.endswith(".rs") or f == "tests.rs" or folder.endswith(os.sep + "tests"):
                    continue
                path = os.path.join(folder, f)
                text = open(path, encoding="utf-8").read()
                # Unit tests are not calls made in production.
                text = text.split("#[cfg(test)]")[0]
                yield crate, os.path.relpath(path, ROOT), text


def calls_in_code(ops):
    """IAM action → {crate: [path, …]} for every SDK operation the code calls."""
    found = {}
    for crate, path, text in production_sources():
        for short, names in ops.items():
            if f"aws_sdk_{short}" not in text:
                continue
            for op in set(re.findall(r"\.\s*([a-z][a-z0-9_]*)\(\)", text)):
                if op in names:
                    action = f"{SERVICES.get(short, short)}:{pascal(op)}"
                    found.setdefault(action, {}).setdefault(crate, []).append(path)
        for action, patterns in EXTRA_CALLS.items():
            if crate in patterns and re.search(patterns[crate], text):
                found.setdefault(action, {}).setdefault(crate, []).append(path)
    return found


def template_properties(template):
    """Every 'Type.Property' the template sets (SAM events as 'Type.Events.<EventType>.Property')."""
    found = {}
    globals_ = template.get("Globals", {}).get("Function", {})
    for name, r in template.get("Resources", {}).items():
        kind = r["Type"]
        props = dict(r.get("Properties", {}))
        if kind == "AWS::Serverless::Function":
            for key in globals_:
                props.setdefault(key, globals_[key])
            for event in props.get("Events", {}).values():
                for key in event.get("Properties", {}):
                    found.setdefault(f"{kind}.Events.{event['Type']}.{key}", set()).add(name)
        found.setdefault(kind, set()).add(name)
        for key in props:
            if key != "Events":
                found.setdefault(f"{kind}.{key}", set()).add(name)
    return found


def doc_rows(text):
    """First-cell key → (whole row, cells) of every table row in the doc."""
    rows = {}
    for line in text.splitlines():
        if not line.startswith("|") or set(line.replace("|", "").strip()) <= set("-: "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        keys = re.findall(r"`([^`]+)`", cells[0])
        for key in keys:
            rows[key] = (line, cells)
    return rows


def role_actions(template, role):
    actions = set()
    props = template.get("Resources", {}).get(role, {}).get("Properties", {})
    for policy in props.get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            for s in (st["Fn::If"][1:2] if "Fn::If" in st else [st]):
                if s.get("Effect") == "Allow":
                    a = s.get("Action", [])
                    actions.update(a if isinstance(a, list) else [a])
    return actions


def repository_text():
    chunks = []
    for top in ("functions", "tests", "fuzz", "bench"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            if "/target" in folder or "node_modules" in folder:
                continue
            for f in files:
                if f.endswith((".rs", ".py", ".java", ".sql", ".sh")):
                    chunks.append(open(os.path.join(folder, f), encoding="utf-8", errors="replace").read())
    chunks.append(open(os.path.join(ROOT, "template.yaml"), encoding="utf-8").read())
    chunks.append(open(os.path.join(ROOT, "Makefile"), encoding="utf-8").read())
    return "\n".join(chunks)


def check(template, doc_text, calls, repo_text):
    errors = []
    rows = doc_rows(doc_text)
    for action, crates in sorted(calls.items()):
        if action not in rows:
            where = ", ".join(p for ps in crates.values() for p in ps)
            errors.append(f"operation {action} (called in {where}) has no row in docs/aws-contracts.md")
            continue
        line, cells = rows[action]
        callers = set(crates)
        if "shared" in callers:
            # The shared crate's calls are made by the functions the row names; a row that
            # says "not deployed" describes a path template.yaml does not configure.
            callers.discard("shared")
            if len(cells) > 1 and "not deployed" not in cells[1]:
                callers.update(c for c in ROLES if c in cells[1])
        for crate in sorted(callers):
            role = ROLES.get(crate)
            if role and action not in role_actions(template, role):
                errors.append(f"{crate} calls {action} but {role} does not allow it (template.yaml)")
    for prop, resources in sorted(template_properties(template).items()):
        if prop not in rows:
            errors.append(f"template property {prop} (set on {', '.join(sorted(resources))}) has no row in docs/aws-contracts.md")
    for key, (line, cells) in sorted(rows.items()):
        if ":" not in key and not key.startswith("AWS::"):
            continue
        if "https://docs.aws.amazon.com/" not in line:
            errors.append(f"row {key}: no docs.aws.amazon.com source")
        enforced = cells[-1]
        names = re.findall(r"`([^`]+)`", enforced)
        if not names:
            errors.append(f"row {key}: 'Enforced by' names no test or check")
        for n in names:
            if n not in repo_text:
                errors.append(f"row {key}: 'Enforced by' names `{n}`, which is nowhere in the code or tests")
    return errors


def self_test(template, doc_text, calls, repo_text):
    import copy

    breakages = {
        "has no row": lambda t, d, c: (t, d, {**c, "glue:DeleteTable": {"crawler-trigger": ["x.rs"]}}),
        "does not allow it": lambda t, d, c: (
            t, d, {**c, "kinesis:PutRecords": {"catalog-fetch": ["x.rs"], "athena-udf": ["y.rs"]}}
        ) if "kinesis:PutRecords" in doc_rows(d) else (t, d, c),
        "template property": lambda t, d, c: (
            {**t, "Resources": {**t["Resources"], "X": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}}}}, d, c
        ),
        "nowhere in the code": lambda t, d, c: (t, d + "\n| `AWS::Fake::Thing` | x | https://docs.aws.amazon.com/x | x | `" + "no_such_test_" + "anywhere_42` |\n", c),
    }
    for expected, breakage in breakages.items():
        t, d, c = breakage(copy.deepcopy(template), doc_text, copy.deepcopy(calls))
        found = check(t, d, c, repo_text)
        if not any(expected in e for e in found):
            print(f"aws-contracts self-test: breaking {expected!r} was not detected")
            sys.exit(1)
    print(f"aws-contracts self-test: all {len(breakages)} deliberate breakages detected")


def main():
    template = cfn_yaml.load(os.path.join(ROOT, "template.yaml"))
    doc_text = open(DOC, encoding="utf-8").read() if os.path.exists(DOC) else ""
    calls = calls_in_code(sdk_operations())
    repo_text = repository_text()
    self_test(template, doc_text, calls, repo_text)
    errors = check(template, doc_text, calls, repo_text)
    for e in errors:
        print(f"aws-contracts: {e}")
    if errors:
        sys.exit(1)
    props = template_properties(template)
    print(f"docs/aws-contracts.md covers {len(calls)} AWS operations called by the functions and {len(props)} template types/properties")


if __name__ == "__main__":
    main()

# ferrolake — every entry point for developers and CI.
#   make setup   idempotent: Rust toolchain check, every crate source Cargo.lock names (all
#                platforms: cargo deny reads them), project venv (pinned moto[server], cfn-lint,
#                cargo-lambda, pyarrow), PostgreSQL 15 via apt-get when its binaries are missing
#   make fresh-check  clone into a temp dir and run make demo, then make test, with an empty
#                HOME, CARGO_HOME and target dir (what a new user sees); prints both wall times
#   make test    setup + fmt check + clippy + all unit and integration tests + template checks
#   make demo    the whole pipeline locally (ARGS="--events N --keep")

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV        := $(CURDIR)/.venv
PY          := $(VENV)/bin/python
REQS        := infra/requirements.txt
VENV_STAMP  := $(VENV)/.installed-$(shell cat $(REQS) 2>/dev/null | sha256sum | cut -c1-12)
PG_BIN      ?= /usr/lib/postgresql/15/bin
# sam + checkov: a second venv outside the checkout, reused across clones (keyed by its pins).
TOOLS_REQS  := infra/requirements-tools.txt
TOOLS_VENV  := $(HOME)/.cache/ferrolake/tools-$(shell cat $(TOOLS_REQS) 2>/dev/null | sha256sum | cut -c1-12)

# The cargo target dir lives outside the checkout so CI runs after the first are incremental.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ferrolake/target
export PATH := $(VENV)/bin:$(PATH)
# Tests never talk to real AWS: dummy credentials, fixed region, no shared config files.
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_REGION ?= us-east-1
export AWS_CONFIG_FILE := /dev/null
export AWS_SHARED_CREDENTIALS_FILE := /dev/null
export CARGO_TERM_COLOR ?= never

.PHONY: help setup toolchain crates fresh-check venv tools postgres fmt fmt-check clippy unit-test test template-check deny build build-x86 bench cold-start bench-smoke demo fuzz fuzz-smoke soak clean java-conformance java-peer

help:
	@echo "make setup | test | demo | fmt | clippy | template-check | deny | build | build-x86 | bench | cold-start | bench-smoke | fuzz | fuzz-smoke | soak | java-conformance | clean"

setup: toolchain crates venv postgres

# The toolchain comes from rust-toolchain.toml (channel "stable"); Cargo.toml's rust-version is
# the floor. Nothing here downloads a toolchain: a missing or too-old one is named, not fetched.
RUST_MSRV := $(shell sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml)
toolchain:
	@command -v cargo >/dev/null || { echo "setup: cargo not found — install Rust $(RUST_MSRV) or newer (rustup)" >&2; exit 1; }
	@have=$$(rustc --version 2>/dev/null | cut -d' ' -f2); \
	  if [ -z "$$have" ]; then echo "setup: rustc does not run (is the 'stable' toolchain installed? rustup toolchain list)" >&2; exit 1; fi; \
	  if [ "$$(printf '%s\n%s\n' "$(RUST_MSRV)" "$$have" | sort -V | head -1)" != "$(RUST_MSRV)" ]; then \
	    echo "setup: rustc $$have is older than the project's rust-version $(RUST_MSRV)" >&2; exit 1; fi
	@cargo fmt --version >/dev/null 2>&1 || { echo "setup: rustfmt missing (rustup component add rustfmt)" >&2; exit 1; }
	@cargo clippy --version >/dev/null 2>&1 || { echo "setup: clippy missing (rustup component add clippy)" >&2; exit 1; }

# Every crate in Cargo.lock, for every platform (a Linux build never downloads web-sys or
# android_system_properties, but cargo deny reads their metadata). A no-op once cached.
crates:
	cargo fetch --locked

# For people, not CI: a fresh clone with nothing cached (tests/fresh_machine.sh).
fresh-check:
	tests/fresh_machine.sh

venv: $(VENV_STAMP)

$(VENV_STAMP): $(REQS)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQS)
	@rm -f $(VENV)/.installed-*
	@touch $@

tools: $(TOOLS_VENV)/.installed

# No file prerequisite: the directory name carries the pins' hash, and a fresh clone's
# newer mtime must not trigger a reinstall.
$(TOOLS_VENV)/.installed:
	@test -x $(TOOLS_VENV)/bin/python || python3 -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(TOOLS_REQS)
	@touch $@

postgres:
	@if [ ! -x "$(PG_BIN)/postgres" ] && ! command -v pg_config >/dev/null; then \
	  echo "installing PostgreSQL 15 (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null; \
	fi

fmt:
	cargo fmt --all

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

unit-test:
	cargo test --workspace --locked --lib --bins

# Offline: cfn-lint, the project's template rules and AWS contract rules (with a self-test),
# docs/aws-contracts.md's coverage of every SDK call and template property (and each role
# granting its function's calls), sam validate --lint and checkov; zero findings, every
# suppression justified inline in template.yaml.
template-check: venv tools
	$(VENV)/bin/cfn-lint template.yaml
	$(PY) tests/template_rules.py template.yaml
	$(PY) tests/aws_contracts.py
	SAM_CLI_TELEMETRY=0 $(TOOLS_VENV)/bin/sam validate --lint --template template.yaml
	$(TOOLS_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

test: setup fmt-check clippy template-check deny
	python3 tests/use_cycles.py
	cargo test --workspace --locked
	$(MAKE) --no-print-directory java-conformance

# Licences, banned crates (a second TLS stack, the legacy SDK HTTP stack) and sources,
# offline (no advisory database). cargo-deny is installed once, pinned, outside the checkout.
CARGO_TOOLS       := $(HOME)/.cache/ferrolake/cargo-tools
CARGO_DENY_VERSION := 0.20.2
CARGO_DENY        := $(CARGO_TOOLS)/cargo-deny-$(CARGO_DENY_VERSION)/bin/cargo-deny
$(CARGO_DENY):
	cargo install cargo-deny --locked --version $(CARGO_DENY_VERSION) --root $(CARGO_TOOLS)/cargo-deny-$(CARGO_DENY_VERSION)
deny: crates $(CARGO_DENY)
	$(CARGO_DENY) --offline check licenses bans sources

# The Java conformance harness (tests/java, Maven + JUnit 5): athena-udf's requests built and
# its responses read by the Athena Query Federation SDK itself, through the real binaries
# behind a local Lambda (ferrolake-local-lambda, with moto), and athena-udfs' compress,
# decompress, encrypt and decrypt compared on the same requests. The Maven repository lives
# outside the checkout (M2_REPO); once a run has passed with this pom.xml it runs offline (-o).
M2_REPO    ?= $(HOME)/.cache/ferrolake/m2
JAVA_POM   := tests/java/pom.xml
JAVA_STAMP  = $(M2_REPO)/.ferrolake-java-$(shell sha256sum $(JAVA_POM) 2>/dev/null | cut -c1-12)
java-conformance: venv
	@command -v mvn >/dev/null || { echo "java-conformance: mvn not found (Maven 3.8+ and a JDK 17+ are needed)" >&2; exit 1; }
	cargo build --locked -p athena-udf -p ferrolake-local-aws --bins
	mvn -B --no-transfer-progress -f $(JAVA_POM) -Dmaven.repo.local=$(M2_REPO) $$(test -f $(JAVA_STAMP) && echo -o) \
	  -Dferrolake.bin.dir=$(CARGO_TARGET_DIR)/debug -Dferrolake.java.build=$(HOME)/.cache/ferrolake/java-target test
	@touch $(JAVA_STAMP)

# The Java UDF peer of make bench (ferrolake.bench.JavaUdfPeer under Lambda's Java runtime
# interface client): compiles the harness and writes its classpath for bench/run.py.
JAVA_BUILD := $(HOME)/.cache/ferrolake/java-target
java-peer:
	@command -v mvn >/dev/null || { echo "java-peer: mvn not found (Maven 3.8+ and a JDK 17+ are needed)" >&2; exit 1; }
	mvn -B --no-transfer-progress -q -f $(JAVA_POM) -Dmaven.repo.local=$(M2_REPO) -Dferrolake.java.build=$(JAVA_BUILD) \
	  test-compile dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=$(JAVA_BUILD)/peer.classpath

# cargo-fuzz targets (nightly; installed on first use), seeded from events/: 60 s each, or
# FUZZ_SECONDS each with `make fuzz`. Not part of `make test`.
FUZZ_SECONDS ?= 600
fuzz-smoke:
	fuzz/run.sh 60
fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

# 10,000 messages per SQS-driven function with 10 % injected faults (SOAK_MESSAGES=N).
soak: setup
	cargo build --workspace --bins --locked
	cargo test -p ferrolake-tests --test soak --locked -- --ignored --nocapture --test-threads 1

# sam build (cargo-lambda from the venv) for arm64, as the template says. Needs the
# aarch64-unknown-linux-gnu Rust target (rustup target add aarch64-unknown-linux-gnu).
build: venv tools
	SAM_CLI_TELEMETRY=0 $(TOOLS_VENV)/bin/sam build --template template.yaml

# The same Lambda artifacts for x86_64 (cargo lambda; no extra Rust target needed).
build-x86: venv
	cargo lambda build --release --x86-64 --workspace

# Criterion benchmarks (slow and noisy: not part of `make test`). Results: docs/benchmarks.md.
# ferrolake against the Python peers (bench/peers/) in one run: criterion benchmarks, the
# peers on the same documents, cold starts / first invocations / peak RSS through a local
# Runtime API (ferrolake-runtime-probe), binary sizes; writes docs/benchmarks.md and docs/benchmarks.png (bench/run.py).
# Release binaries: x86_64 (measured here) and arm64 (sizes; what sam build deploys).
FUNCTION_PACKAGES := -p catalog-fetch -p firehose-flatten -p athena-udf -p crawler-trigger -p redshift-config
bench: setup
	cargo build --release --locked --target x86_64-unknown-linux-gnu --bins $(FUNCTION_PACKAGES)
	cargo build --release --locked --manifest-path bench/runtime_floor/Cargo.toml
	cargo build --locked -p ferrolake-local-aws --bin ferrolake-runtime-probe
	cargo lambda build --release --arm64 --locked $(FUNCTION_PACKAGES)
	$(PY) bench/run.py

# Cold starts only (#24): the release binaries, the bare-runtime floor and the peers (Python
# with boto3, the Java UDF Lambda) started as Lambda starts them, 20 starts each; prints the
# table (docs/cold-start.md says how to read it) and saves cold-start.json in the target dir.
cold-start: setup
	cargo build --release --locked --target x86_64-unknown-linux-gnu --bins $(FUNCTION_PACKAGES)
	cargo build --release --locked --manifest-path bench/runtime_floor/Cargo.toml
	cargo build --locked -p ferrolake-local-aws --bin ferrolake-runtime-probe
	$(PY) bench/run.py --cold-only --starts 20

# Every part of make bench for about a second each, on the debug binaries; writes to the
# cargo target dir (bench-smoke/), not docs/. CI runs it (.ci/run) so the benchmarks keep
# building and running.
bench-smoke: setup
	cargo build --workspace --bins --locked
	cargo build --locked --manifest-path bench/runtime_floor/Cargo.toml
	$(PY) bench/run.py --smoke

clean:
	cargo clean
	rm -rf .aws-sam

# The whole pipeline locally (moto + PostgreSQL, template.yaml's resources, the five function
# binaries behind a local Lambda Runtime API). `make demo ARGS="--events 200 --keep"`.
ARGS ?=
demo: setup
	cargo build --workspace --bins --locked
	$(CARGO_TARGET_DIR)/debug/ferrolake-demo $(ARGS)

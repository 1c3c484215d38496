#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 60), seeded from the committed sample
# events; print one summary line per target (runs, seconds, corpus size). A crash stops
# with libFuzzer's report; the input is saved under fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
TOOLS=$HOME/.cache/ferrolake/cargo-tools
TARGET_DIR=$HOME/.cache/ferrolake/fuzz-target
CORPUS=$HOME/.cache/ferrolake/fuzz-corpus
export PATH=$TOOLS/bin:$PATH
# Never download a toolchain (that hangs where the Rust servers are unreachable): say what
# is missing and stop.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: needs a nightly Rust toolchain (cargo-fuzz builds with -Zsanitizer), and none is installed." >&2
  echo "fuzz: install one with 'rustup toolchain install nightly --profile minimal', then run make fuzz-smoke again." >&2
  exit 2
fi
echo "fuzz: $(rustup run nightly rustc --version)"
command -v cargo-fuzz >/dev/null || cargo +nightly install cargo-fuzz --locked --version 0.13.2 --root "$TOOLS"

declare -A SEEDS=(
  [firehose_event]="events/firehose-flatten"
  [athena_request]="events/athena-udf"
  [envelopes]="events/envelopes events/crawler-trigger events/catalog-fetch"
  [redshift_config]="infra/redshift events/redshift-config"
)
cargo +nightly fuzz build --target-dir "$TARGET_DIR" >/dev/null
summary=()
for target in firehose_event athena_request envelopes redshift_config; do
  mkdir -p "$CORPUS/$target" "fuzz/artifacts/$target"
  seeds=()
  for dir in ${SEEDS[$target]}; do seeds+=("$dir"); done
  log=$(mktemp)
  if ! cargo +nightly fuzz run "$target" --target-dir "$TARGET_DIR" "$CORPUS/$target" "${seeds[@]}" -- \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=262144 \
      -artifact_prefix="fuzz/artifacts/$target/" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $target FAILED — input saved under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1)
  corpus=$(ls "$CORPUS/$target" | wc -l)
  summary+=("$target: ${runs:-no summary} (corpus $corpus inputs, $(grep -c 'NEW' "$log" || true) new coverage events)")
  rm -f "$log"
done
printf '%s\n' "${summary[@]}"

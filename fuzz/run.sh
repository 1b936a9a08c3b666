#!/usr/bin/env bash
# Coverage-guided fuzzing of Shomei's parsers with libFuzzer (issue #12), on stable Rust:
# the targets are built with LLVM's sanitizer-coverage instrumentation (the flags
# cargo-fuzz passes), then each runs for the time given. A crash, a panic, an input that
# takes over 10 s (a hang) or a run over 2 GB of memory fails it; the input that did it
# is kept in fuzz/artifacts/.
#
#   fuzz/run.sh                     every target, 60 s each
#   fuzz/run.sh csr 14400           one target for four hours
#   fuzz/run.sh all 30              what CI runs
#
# Do not pause a run (SIGSTOP) to free the CPU for something else: libFuzzer's -timeout
# counts wall time, so the input it was working on when paused is reported as a hang
# (seen on 2026-12-01: three "timeouts" after a 6-minute pause, each input 0-8 ms when
# run again). Run it niced instead, or stop it and start again.
#
# Each run starts from fuzz/corpus/<target>/. With FUZZ_MERGE=1 the inputs that reached
# new code are merged back into it (libFuzzer's -merge=1 keeps only those): commit them
# after a long run.
set -euo pipefail
cd "$(dirname "$0")"
ALL=(csr ocsp_request urlencoded multipart acme_jws)
WHICH="${1:-all}"
SECS="${2:-60}"
if [ "$WHICH" = all ]; then TARGETS=("${ALL[@]}"); else TARGETS=("$WHICH"); fi
# Its own build directory: the instrumentation flags would otherwise rebuild the
# project's ordinary build each time.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shomei-target}/fuzz"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth -Cllvm-args=-simplifycfg-branch-fold-threshold=0"
# With --target, the flags reach only the targets, not build scripts and proc macros.
HOST=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --locked --bins --target "$HOST"
BIN="$CARGO_TARGET_DIR/$HOST/release"
mkdir -p artifacts
status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t"
  echo "=== fuzz $t for ${SECS}s"
  # Runs over a copy of the corpus; only inputs that add coverage come back.
  work=$(mktemp -d)
  cp -r "corpus/$t/." "$work/" 2>/dev/null || true
  if ! "$BIN/$t" "$work" -max_total_time="$SECS" -timeout=10 \
      -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
      -artifact_prefix="artifacts/$t-" 2>"artifacts/$t.log"; then
    tail -40 "artifacts/$t.log"
    echo "FUZZ FAILURE: $t (input kept in fuzz/artifacts/)" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added" "artifacts/$t.log" | tr '\n' ' '
    echo
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
      "$BIN/$t" -merge=1 "corpus/$t" "$work" 2>/dev/null >/dev/null || true
    fi
  fi
  rm -rf "$work"
done
exit $status

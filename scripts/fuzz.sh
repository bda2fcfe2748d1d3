#!/usr/bin/env bash
# Builds RefToken's fuzz targets (fuzz/) with libFuzzer on stable Rust and runs them.
#
#   scripts/fuzz.sh [TARGET...] [--seconds N] [--runs N] [--jobs N] [--build-only] [--list]
#                   [--minimize] [--quiet] [--] [LIBFUZZER_FLAG...]
#
# No TARGET: every target. --seconds N (default 15) bounds each target's run; --runs N stops a
# target after N executions instead (for the long campaigns: --runs 10000000 --seconds 0).
# Each target runs on its committed corpus fuzz/corpus/TARGET (read-only: new inputs go to
# fuzz/target/new-corpus/TARGET, so a CI run leaves the checkout clean) with the dictionary
# fuzz/dict/TARGET.dict when there is one. A crash stops the script with a non-zero exit
# and leaves the input in fuzz/artifacts/TARGET/. --minimize rewrites fuzz/corpus/TARGET as
# a small set of inputs with the same coverage (libFuzzer's -set_cover_merge=1). --quiet keeps
# each target's log in fuzz/target/logs/TARGET.log and prints its totals (the whole log on failure).
#
# Coverage comes from LLVM's SanitizerCoverage through RUSTFLAGS (what cargo-fuzz passes),
# so no nightly toolchain and no cargo-fuzz are needed. Runs under `nice` unless NICE=0.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=15 runs="" jobs=1 build_only=0 list=0 minimize=0 quiet=0
targets=() extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --list) list=1; shift ;;
    --minimize) minimize=1; shift ;;
    --quiet) quiet=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

all=$(grep -A1 '^\[\[bin\]\]' Cargo.toml | sed -n 's/^name = "\(.*\)"$/\1/p')
if [ "$list" = 1 ]; then echo "$all"; exit 0; fi
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$(echo $all)"
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$all" || { echo "no fuzz target $t (see --list)" >&2; exit 2; }
done

triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="${RUSTFLAGS:-} --cfg fuzzing -Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cllvm-args=-sanitizer-coverage-stack-depth -Cdebug-assertions -Coverflow-checks -Cforce-frame-pointers=yes"
# --target keeps RUSTFLAGS away from build scripts and proc macros.
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
nice_cmd=()
[ "${NICE:-1}" = 0 ] || nice_cmd=(nice -n 19)
"${nice_cmd[@]}" cargo build --release --target "$triple" "${bins[@]}"
[ "$build_only" = 1 ] && exit 0

bindir="target/$triple/release"
for t in "${targets[@]}"; do
  corpus="corpus/$t" new="target/new-corpus/$t" art="artifacts/$t/"
  mkdir -p "$corpus" "$new" "$art"
  dict=()
  [ -f "dict/$t.dict" ] && dict=(-dict="dict/$t.dict")
  if [ "$minimize" = 1 ]; then
    tmp=$(mktemp -d)
    "${nice_cmd[@]}" "$bindir/$t" -set_cover_merge=1 -rss_limit_mb=4096 "${dict[@]}" "$tmp" "$corpus" "$new"
    rm -rf "$corpus" && mv "$tmp" "$corpus"
    echo "$t: $(ls "$corpus" | wc -l) inputs, $(du -sh "$corpus" | cut -f1)"
    continue
  fi
  limit=()
  [ "$jobs" -gt 1 ] && limit+=(-jobs="$jobs" -workers="$jobs")
  [ -n "$runs" ] && limit+=(-runs="$runs")
  [ "$seconds" != 0 ] && limit+=(-max_total_time="$seconds")
  echo "== $t"
  run=("${nice_cmd[@]}" "$bindir/$t" "$new" "$corpus" -artifact_prefix="$art" -timeout=10
    -rss_limit_mb=4096 -print_final_stats=1 "${limit[@]}" "${dict[@]}" "${extra[@]}")
  if [ "$quiet" = 1 ]; then
    mkdir -p target/logs
    log="target/logs/$t.log"
    if ! "${run[@]}" >"$log" 2>&1; then
      cat "$log"
      echo "fuzz target $t failed (log: fuzz/$log)" >&2
      exit 1
    fi
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
  else
    "${run[@]}"
  fi
done

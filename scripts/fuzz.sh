#!/usr/bin/env bash
# Fuzzes the Rust core with cargo-fuzz (libFuzzer): every target in fuzz/fuzz_targets/ for a
# short time, then prints per target the executions, exec/s, coverage and crashes found.
# Exits non-zero if any target crashed (panic, failed invariant, sanitizer report, timeout, OOM).
#
#   FUZZ_SECONDS=60          seconds per target
#   FUZZ_TARGETS="json key"  a subset of targets (default: all)
#   FUZZ_SANITIZER=none      or address (AddressSanitizer: about 5x fewer executions per
#                            second; the crate forbids unsafe code, so by default the time goes
#                            to executions). Debug assertions and overflow checks are on in both.
#
# Reproduce a crash:  cargo fuzz run --sanitizer none <target> fuzz/artifacts/<target>/<file>
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-none}"
case "$seconds" in '' | *[!0-9]*) echo "FUZZ_SECONDS must be a whole number of seconds" >&2; exit 2 ;; esac

# Without a sanitizer cargo-fuzz passes only stable rustc flags. With one it passes
# -Zsanitizer=..., which the stable toolchain accepts only with RUSTC_BOOTSTRAP=1 (its
# sanitizer runtimes ship with the stable std). One build directory per sanitizer, because
# switching flags (and RUSTC_BOOTSTRAP, which proc-macro2's build script watches) rebuilds all.
case "$sanitizer" in
  none) target_dir="$root/fuzz/target/sanitizer-none"; unset RUSTC_BOOTSTRAP ;;
  address) target_dir="$root/fuzz/target"; export RUSTC_BOOTSTRAP=1 ;;
  leak | memory | thread) target_dir="$root/fuzz/target/sanitizer-$sanitizer"; export RUSTC_BOOTSTRAP=1 ;;
  *) echo "FUZZ_SANITIZER must be none, address, leak, memory or thread" >&2; exit 2 ;;
esac
export CARGO_TARGET_DIR="$target_dir"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (once, a few minutes)"
  cargo install cargo-fuzz
fi

command -v node >/dev/null || { echo "node is needed to write the seed corpora" >&2; exit 2; }
echo "== seeds: $(node fuzz/seed.mjs "$root")"

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${targets[*]} (sanitizer: $sanitizer)"
for t in "${targets[@]}"; do
  cargo fuzz build --sanitizer "$sanitizer" --target-dir "$target_dir" "$t"
done

# libFuzzer options per target. token needs room for the 16 KiB size limit. verify runs a few
# hundred inputs a second (each may reach an ECDSA verification): let its inputs (lists of
# edits) be long from the start instead of growing the length limit slowly.
target_args() {
  case "$1" in
    token) echo "-max_len=17000" ;;
    key) echo "-max_len=8192" ;;
    verify) echo "-max_len=512 -len_control=0" ;;
    *) echo "-max_len=4096" ;;
  esac
}

logs="fuzz/target/logs"
mkdir -p "$logs"
summary=()
crashed=0
for t in "${targets[@]}"; do
  log="$logs/$t.log"
  echo "== fuzzing $t for ${seconds}s (log: $log)"
  set +e
  cargo fuzz run --sanitizer "$sanitizer" --target-dir "$target_dir" "$t" -- \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    $(target_args "$t") >"$log" 2>&1
  rc=$?
  set -e

  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  status_line=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n1 || true)
  if [ -z "$runs" ]; then runs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$status_line"); fi
  if [ -z "$eps" ]; then eps=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$status_line"); fi
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$status_line")
  ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$status_line")
  corp=$(sed -nE 's/.*corp: ([0-9]+)\/.*/\1/p' <<<"$status_line")
  mapfile -t found < <(grep -oE 'Test unit written to [^ ]*/(crash|leak|timeout|oom)-[0-9a-f]+' "$log" | sed 's/^Test unit written to //' || true)

  n=${#found[@]}
  if [ "$rc" -ne 0 ] && [ "$n" -eq 0 ]; then
    echo "   $t: cargo fuzz exited $rc without an artifact; last lines of the log:"
    tail -n 30 "$log" | sed 's/^/   | /'
    n="failed"
    crashed=1
  fi
  line=$(printf '%-10s runs %-10s exec/s %-7s cov %-6s ft %-7s corpus %-6s crashes %s' \
    "$t" "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$n")
  summary+=("$line")
  echo "   $line"
  for f in "${found[@]}"; do
    crashed=1
    echo "   !! $t: $f"
    echo "   !! input (base64): $(base64 -w0 "$f" 2>/dev/null || echo '?')"
    echo "   !! reproduce: ${RUSTC_BOOTSTRAP:+RUSTC_BOOTSTRAP=1 }cargo fuzz run --sanitizer $sanitizer $t $f"
    # The panic message or sanitizer report, and the first frames.
    grep -m1 -A40 -E "panicked at|ERROR: AddressSanitizer|ERROR: LeakSanitizer|ALARM: working on the last Unit|out-of-memory" "$log" \
      | sed 's/^/   | /' || true
  done
done

echo
echo "== fuzz summary (${seconds}s per target, sanitizer: $sanitizer)"
for line in "${summary[@]}"; do echo "   $line"; done
if [ "$crashed" -ne 0 ]; then
  echo "== FAILED: crashes above; inputs in fuzz/artifacts/"
  exit 1
fi
echo "== no crashes"

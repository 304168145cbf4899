#!/usr/bin/env bash
# Two cargo-isolate binaries on the bench's 1,000-test workspace, interleaved:
# what a change costs per test. Wall time swings a lot on shared machines;
# the CPU column (user+sys of the whole tree, from /usr/bin/time) much less.
#
#   benches/compare_builds.sh OLD_BIN NEW_BIN [ROUNDS]
#
# Build the old one in a worktree: git worktree add /tmp/old <commit> &&
# (cd /tmp/old && cargo build --release). Run `python3 benches/bench.py
# --quick` once first: it generates and builds /tmp/isolate-bench/ws-10x100.
set -euo pipefail
old=$1 new=$2 rounds=${3:-6}
ws=/tmp/isolate-bench/ws-10x100
target=/tmp/isolate-bench/target/ws-10x100
[ -f "$ws/Cargo.toml" ] || { echo "no $ws: run python3 benches/bench.py --quick first" >&2; exit 2; }
out=$(mktemp)
for _ in $(seq "$rounds"); do
  for v in "old full" "new full" "old none" "new none"; do
    set -- $v
    bin=$old; [ "$1" = new ] && bin=$new
    extra=(); [ "$2" = none ] && extra=(--isolation none)
    /usr/bin/time -f "$1-$2 %e %U %S" -a -o "$out" \
      "$bin" isolate test --manifest-path "$ws/Cargo.toml" --target-dir "$target" -j 2 \
      --report "$out.json" "${extra[@]}" >/dev/null 2>&1 || true
  done
done
python3 - "$out" <<'PY'
import collections, statistics, sys
wall, cpu = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 4:
        wall[p[0]].append(float(p[1])); cpu[p[0]].append(float(p[2]) + float(p[3]))
med = lambda d: {k: statistics.median(v) for k, v in d.items()}
w, c = med(wall), med(cpu)
for k in sorted(w):
    print(f"{k:9} wall {w[k]:6.3f} s   cpu {c[k]:6.3f} s   ({len(wall[k])} runs)")
for mode in ("full", "none"):
    a, b = f"new-{mode}", f"old-{mode}"
    print(f"{mode}: new - old = {w[a] - w[b]:+.3f} ms wall, {c[a] - c[b]:+.3f} ms cpu per test (1,000 tests)")
PY
rm -f "$out" "$out.json"

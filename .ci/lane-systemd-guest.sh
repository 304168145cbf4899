#!/usr/bin/env bash
# Inside the systemd guest, as root: a user with a user manager, then the
# checks as that user (see lane-systemd.sh). $1: the shared directory.
set -euo pipefail
dir=$1
fail() { echo "systemd lane: FAIL: $*" >&2; exit 1; }

systemctl start dbus.socket dbus.service
useradd -m -u 1500 tester
systemctl start user@1500.service
as_tester() {
  runuser -u tester -- env -i PATH=/usr/bin:/bin HOME=/home/tester USER=tester \
    XDG_RUNTIME_DIR=/run/user/1500 "$@"
}
cgroups_before=$(find /sys/fs/cgroup -type d | sort)

# 1. No wrapper: the run asks for its scope and the limit holds.
set +e
as_tester "$dir/cargo-isolate" isolate test --archive-file "$dir/demo.tar.zst" \
  --memory-max 32M --report /home/tester/report.json > "$dir/run1.out" 2> "$dir/run1.err"
rc=$?
set -e
cat "$dir/run1.err" >&2
[ "$rc" = 100 ] || fail "exit $rc, expected 100 (a failing test and an OOM kill)"
python3 - /home/tester/report.json <<'PY' || fail "the report"
import json, sys
r = json.load(open(sys.argv[1]))
host = r["host"]
assert host["cgroup"] == "v2", host
assert host["rootless"] is True, host
assert host.get("systemd_scope", "").startswith("cargo-isolate-"), host
by = {t["name"]: t for t in r["tests"]}
oom = by["tests::allocates_64_mib"]
assert oom["outcome"] == "oom_killed", oom["outcome"]
passed = by["tests::adds_numbers"]
assert passed["outcome"] == "passed" and passed["peak_memory_bytes"] > 0, passed
print("systemd lane: report ok:", host["systemd_scope"], "cgroup v2,", oom["outcome"])
PY
grep -q "systemd scope cargo-isolate-" "$dir/run1.err" || fail "the header names no scope"

# 2. Nothing left: no unit, no cgroup.
left=$(as_tester systemctl --user list-units --all --no-legend 'cargo-isolate-*' || true)
[ -z "$left" ] || fail "units left behind: $left"
cgroups_after=$(find /sys/fs/cgroup -type d | sort)
new=$(comm -13 <(echo "$cgroups_before") <(echo "$cgroups_after") | grep -v '/run-' || true)
[ -z "$new" ] || fail "cgroups left behind: $new"

# 3. Turned off: the limit is refused, and the message says why.
set +e
CARGO_ISOLATE_SYSTEMD_SCOPE=never as_tester env CARGO_ISOLATE_SYSTEMD_SCOPE=never \
  "$dir/cargo-isolate" isolate test --archive-file "$dir/demo.tar.zst" --memory-max 32M \
  > /dev/null 2> "$dir/run3.err"
rc=$?
set -e
[ "$rc" = 96 ] || { cat "$dir/run3.err" >&2; fail "exit $rc with the scope turned off, expected 96"; }
grep -q "CARGO_ISOLATE_SYSTEMD_SCOPE=never is set" "$dir/run3.err" ||
  { cat "$dir/run3.err" >&2; fail "the message does not say why there is no scope"; }
echo "systemd lane: all checks passed"

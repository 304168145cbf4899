#!/usr/bin/env bash
# Runs inside the cgroup v2 guest (see lane-cgroup-v2.sh), as root in the root cgroup.
set -euo pipefail
itbin=$1 pre=$2
shift 2
echo "guest: $(uname -r), $(stat -fc %T /sys/fs/cgroup), controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"

# Run from a non-root cgroup that holds processes, as on a user's machine:
# cargo-isolate must move them into a leaf before it can delegate controllers
# (cgroup v2's "no internal processes" rule).
mkdir -p /sys/fs/cgroup/lane
echo $$ > /sys/fs/cgroup/lane/cgroup.procs

# A subtree delegated to uid 65534, the way systemd's Delegate=yes makes one.
deleg=/sys/fs/cgroup/delegated-65534
mkdir -p "$deleg"
chown 65534:65534 "$deleg" "$deleg/cgroup.procs" "$deleg/cgroup.subtree_control" "$deleg/cgroup.threads"

# Every name must be a test: a renamed one would otherwise run nothing.
found=$("$itbin" --list --exact "$@" 2>/dev/null | grep -c ': test$' || true)
if [ "$found" != "$#" ]; then
  echo "guest: $# tests named, $found found in $itbin --list"; exit 1
fi

status=0
# Emulated code is slow: no backtrace symbolisation, longer timeouts. The
# named tests run even when `#[ignore]`d: some can run only here.
RUST_BACKTRACE=0 ISOLATE_IT_TIMEOUT_SECS=20 \
ISOLATE_IT_PREBUILT=$pre ISOLATE_IT_DELEGATED=$deleg \
  "$itbin" --exact --include-ignored --test-threads 2 "$@" || status=$?

left=$(find /sys/fs/cgroup -type d -name 'cargo-isolate-[0-9]*' | awk 'NR <= 10')
if [ -n "$left" ]; then
  echo "guest: cgroups left behind:"; echo "$left"; status=1
fi
exit $status

#!/usr/bin/env bash
# The systemd lane (issue 24): an ordinary user on a cgroup v2 machine with
# systemd as init and a user manager runs `cargo isolate test --memory-max`
# with no wrapper. The run must go into a delegated scope of its own,
# enforce the limit (a 64 MiB test under 32M is oom_killed), say `cgroup:
# v2` and the scope in the report, and leave no unit and no cgroup behind.
# The guest is .ci/vm/run-in-systemd-vm.sh (a copy of the cgroup v2 guest
# that boots systemd); everything is built on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

cargo build --locked
# Inputs and results live outside /tmp (the guest's systemd would clean a
# share there) and are readable by the guest's ordinary user.
out=$(mktemp -d /var/cache/cargo-isolate-systemd-lane.XXXXXX)
trap 'rm -rf "$out"' EXIT
chmod 755 "$out"
cp -r fixtures/demo "$out/demo"
(cd "$out/demo" && cargo test --locked --no-run -q 2>/dev/null || cargo test --no-run -q)
target/debug/cargo-isolate isolate archive --manifest-path "$out/demo/Cargo.toml" \
  --archive-file "$out/demo.tar.zst" >/dev/null
rm -rf "$out/demo"
install -m 755 target/debug/cargo-isolate "$out/cargo-isolate"
install -m 755 .ci/lane-systemd-guest.sh "$out/guest.sh"
chmod 644 "$out/demo.tar.zst"

cd "$out"
bash "$repo/.ci/vm/run-in-systemd-vm.sh" --mem 1G --timeout 900 --no-cwd-rw --rw "$out" \
  -- "$out/guest.sh" "$out"

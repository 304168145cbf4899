#!/usr/bin/env bash
# Lane 4: cargo-isolate inside a container, as a CI job in a container runs
# it. podman from Debian's packages with runc (podman's default runtime,
# crun, refuses these cgroup v1/hybrid hosts); the image is made from local
# files only (the binary and the libraries it and the tests link, no
# registry); the demo archives are made on the host by `cargo isolate
# archive`. Each case checks the exit code, the message and the report.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  echo "== installing podman and runc"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc >/dev/null
fi
# CARGO_ISOLATE_BIN: another build to check (an older one must fail here).
if [ -z "${CARGO_ISOLATE_BIN:-}" ]; then
  cargo build --locked -q
fi
bin=${CARGO_ISOLATE_BIN:-$PWD/target/debug/cargo-isolate}

work=$(mktemp -d "${TMPDIR:-/tmp}/cargo-isolate-lane-container.XXXXXX")
image=localhost/cargo-isolate-lane:$$
# No systemd here: cgroupfs, and events in a file.
podman=(podman --cgroup-manager cgroupfs --events-backend file --runtime runc)
had_libpod_parent=$([ -d /sys/fs/cgroup/memory/libpod_parent ] && echo yes || echo no)
cleanup() {
  "${podman[@]}" rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
  # podman's parent cgroup and its conmon children, if this lane's
  # containers made them (empty once they are gone), deepest first.
  if [ "$had_libpod_parent" = no ]; then
    find /sys/fs/cgroup -depth -type d -path '*/libpod_parent*' -exec rmdir {} \; 2>/dev/null || true
  fi
}
trap cleanup EXIT

echo "== image from local files"
root=$work/rootfs
mkdir -p "$root"/usr/bin "$root"/usr/lib "$root"/usr/lib64 "$root"/etc "$root"/tmp "$root"/root
ln -s usr/bin "$root/bin"; ln -s usr/bin "$root/sbin"
ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"
chmod 1777 "$root/tmp"
cp "$bin" "$root/usr/bin/cargo-isolate"
cp /bin/dash "$root/usr/bin/sh"
# What the binary, the shell and Rust test binaries link: libc, libm,
# libgcc_s, the loader.
# awk reads to the end: with pipefail, a reader that stops early makes the
# writer's SIGPIPE the pipeline's status (141), as a CI run once saw.
libgcc=$(ldconfig -p | awk '/libgcc_s.so.1 .*x86-64/ && !found {print $NF; found = 1}')
for lib in $( (ldd "$bin"; ldd /bin/dash) | grep -o '/[^ ]*' | sort -u) $libgcc; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
tar -C "$root" -c . | "${podman[@]}" import -q - "$image" >/dev/null

echo "== archives of the demo fixtures"
mkdir -p "$work/fx" "$work/io"
for f in demo hungry; do
  cp -r "fixtures/$f" "$work/fx/"
  (cd "$work/fx/$f" && "$bin" isolate archive --archive-file "$work/io/$f.tar.zst" >/dev/null)
done

# podman's default rlimits are above what this job may set: lower ones.
run() {
  local out=$1; shift
  local status=0
  "${podman[@]}" run --rm --network none \
    --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
    -v "$work/io:/io" -w /io -e NO_COLOR=1 "$@" >"$work/$out.log" 2>&1 || status=$?
  echo "$status"
}
fail() { echo "lane-container: $1"; cat "$2"; exit 1; }
has() { grep -qF -- "$1" "$2"; }
json() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

echo "== default settings: exit 96, no CAP_SYS_ADMIN, and the one flag that fixes it"
st=$(run default "$image" cargo-isolate isolate test --archive-file /io/demo.tar.zst)
[ "$st" = 96 ] || fail "default: exit $st, not 96" "$work/default.log"
has "no CAP_SYS_ADMIN" "$work/default.log" && has "--cap-add SYS_ADMIN" "$work/default.log" \
  || fail "default: the message does not name CAP_SYS_ADMIN and --cap-add SYS_ADMIN" "$work/default.log"

echo "== --cap-add SYS_ADMIN: sandboxed"
st=$(run capadd --cap-add SYS_ADMIN "$image" \
  cargo-isolate isolate test --archive-file /io/demo.tar.zst --report /io/capadd.json)
[ "$st" = 100 ] || fail "--cap-add SYS_ADMIN: exit $st, not 100 (the demo fails once)" "$work/capadd.log"
[ "$(json "$work/io/capadd.json" 'r["summary"]["passed"], r["summary"]["failed"]')" = "(6, 1)" ] \
  || fail "--cap-add SYS_ADMIN: not 6 passed, 1 failed" "$work/capadd.log"

echo "== --cap-add SYS_ADMIN, --memory-max 64M: refused or enforced as the cgroup allows, and said so"
st=$(run capadd-limit --cap-add SYS_ADMIN "$image" cargo-isolate isolate test \
  --archive-file /io/hungry.tar.zst --memory-max 64M --report /io/capadd-limit.json)
if [ "$st" = 96 ]; then
  has "mounted read-only in podman" "$work/capadd-limit.log" && has "--cgroupns=private" "$work/capadd-limit.log" \
    && ! has "systemd-run" "$work/capadd-limit.log" \
    || fail "--memory-max refused without naming the read-only cgroup and the container's fix" "$work/capadd-limit.log"
  st=$(run capadd-unenforced --cap-add SYS_ADMIN "$image" cargo-isolate isolate test \
    --archive-file /io/hungry.tar.zst --memory-max 64M --allow-unenforced-limits \
    --report /io/capadd-unenforced.json -- --exact tests::needs_nothing)
  [ "$st" = 0 ] || fail "--allow-unenforced-limits: exit $st" "$work/capadd-unenforced.log"
  [ "$(json "$work/io/capadd-unenforced.json" 'r["settings"]["enforced"]["memory_max"], r["tests"][0]["limits"]["enforced"]["memory_max"]')" = "(False, False)" ] \
    || fail "the report does not say the memory limit was not enforced" "$work/capadd-unenforced.log"
  has "Limits not enforced: memory_max" "$work/capadd-unenforced.log" \
    || fail "the summary does not say the memory limit was not enforced" "$work/capadd-unenforced.log"
else
  [ "$(json "$work/io/capadd-limit.json" 'r["settings"]["enforced"]["memory_max"]')" = True ] \
    || fail "--memory-max ran (exit $st) but the report does not say it was enforced" "$work/capadd-limit.log"
fi

echo "== --privileged: limits enforced, 200 MiB under --memory-max 64M is oom_killed"
st=$(run privileged --privileged "$image" cargo-isolate isolate test \
  --archive-file /io/hungry.tar.zst --memory-max 64M --report /io/privileged.json)
[ "$st" = 100 ] || fail "--privileged: exit $st, not 100" "$work/privileged.log"
[ "$(json "$work/io/privileged.json" '[t["outcome"] for t in r["tests"] if t["name"] == "tests::needs_200_mib"][0], r["settings"]["enforced"]["memory_max"], r["host"]["cgroup"]')" = "('oom_killed', True, 'v1')" ] \
  || fail "--privileged: the 200 MiB test is not oom_killed under an enforced limit" "$work/privileged.log"
has "killed at the memory limit of 64.0 MiB" "$work/privileged.log" \
  || fail "--privileged: the reason does not name the test's own limit" "$work/privileged.log"

echo "== --privileged --memory 150m: the container's limit, not the test's, is named"
st=$(run outside --privileged --memory 150m "$image" cargo-isolate isolate test \
  --archive-file /io/hungry.tar.zst --memory-max 1G --report /io/outside.json)
[ "$st" = 100 ] || fail "--memory 150m: exit $st, not 100" "$work/outside.log"
[ "$(json "$work/io/outside.json" '[(t["outcome"], t["outside_oom"]["limit_bytes"], "libpod" in t["outside_oom"]["cgroup"]) for t in r["tests"] if t["name"] == "tests::needs_200_mib"][0]')" = "('oom_killed', 157286400, True)" ] \
  || fail "--memory 150m: the record does not name the container's cgroup and limit" "$work/outside.log"
has "outside the test's own memory limit of 1.0 GiB: the memory limit of 150.0 MiB of the enclosing cgroup /" "$work/outside.log" \
  || fail "--memory 150m: the reason does not say the kill came from the container's limit" "$work/outside.log"

echo "lane-container: ok"

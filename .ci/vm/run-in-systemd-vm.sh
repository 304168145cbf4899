#!/usr/bin/env bash
# run-in-systemd-vm.sh - run one command inside a throw-away Linux guest whose
# cgroup hierarchy is pure cgroup v2, with systemd as its init (a copy of
# ../shared/vm/run-in-cgroup2-vm.sh whose stage 2 execs systemd, which runs the
# command as the unit cgvm-cmd.service once the system is up; marked below).
#
# Usage:
#   run-in-cgroup2-vm.sh [--mem 2G] [--cpus 2] [--timeout SECS] [--rw DIR]...
#                        [--no-cwd-rw] [--accel auto|kvm|tcg] [--verbose] -- CMD [ARGS...]
#
# The guest
#   * Kernel: Debian's stock amd64 kernel (bookworm: 6.1.x) run by QEMU, with a
#     tiny busybox initramfs that this script builds once and caches.
#   * Root filesystem: the HOST's "/" exported read-only over virtio-9p with a
#     tmpfs overlay on top: the guest may write anywhere, nothing of that
#     reaches the host -- except the caller's cwd and each --rw DIR, which are
#     shared read-write at their host paths (put test output there).
#     Since it is the host's own root fs, host binaries (e.g. a Rust binary
#     built with cargo on the host) run unchanged: same glibc, same paths.
#   * cgroup2 is mounted at /sys/fs/cgroup (kernel booted with cgroup_no_v1=all,
#     so no v1 hierarchy can exist) and every available controller (cpuset cpu
#     io memory hugetlb pids rdma misc) is enabled in the root's
#     cgroup.subtree_control. CMD runs as root, in the root cgroup.
#   * CMD runs with cwd = the caller's cwd, the caller's exported environment
#     and stdin = /dev/null; its stdout and stderr are streamed live to ours
#     (as two separate streams, so their relative order is not preserved).
#   * No network except loopback. Hostname "cgvm".
#
# Exit status: CMD's own (128+N if killed by signal N). 124: --timeout hit.
# 125: the VM failed before CMD reported a status (the guest's console log is
# then printed to stderr) or this script itself failed.
#
# Acceleration: KVM is used only when the CPU advertises vmx/svm and /dev/kvm
# is usable. On PVM hosts (kvm_pvm module, no vmx/svm in /proc/cpuinfo) -- the
# CI machines this was written for -- /dev/kvm can only run specially built
# "PVM guest" kernels, so QEMU's TCG emulator is used instead: fully correct,
# but boot takes ~5-7 s and guest code runs ~15-45x slower than on the host.
# (The KVM path is for machines with VT-x/AMD-V; it was not testable on PVM.)
#
# Tips: build on the host (cargo build / cargo test --no-run) and run only the
# resulting binaries in the guest -- cargo itself is ~40x slower in there; and
# run many tests per boot rather than one VM per test. Host files are cached
# by the guest (9p cache=loose) except in the read-write shares, so do not
# change files outside cwd/--rw dirs while a VM runs and expect it to notice.
#
# Installed/fetched on first use (idempotent, safe to run concurrently):
#   apt-get install: qemu-system-x86 (taken from <codename>-backports when the
#     machine already has backported qemu packages that Debian's own 7.2 would
#     remove, e.g. qemu-utils 10.x), plus xz-utils if missing.
#   apt-get download only (unpacked into the cache, never installed, so no
#     initramfs-tools/udev/systemd changes): the Debian kernel package that
#     linux-image-amd64 points at, and busybox-static.
#
# Environment knobs:
#   CGVM_CACHE_DIR   cache (default /var/cache/cgroup2-vm as root,
#                    ~/.cache/cgroup2-vm otherwise); ~70 MB per kernel
#   CGVM_KERNEL_PKG  Debian kernel package, e.g. linux-image-6.1.0-56-amd64
#                    (default: what linux-image-amd64 depends on when the cache
#                    is first filled; that choice is then kept in the cache)
#   CGVM_APPEND      extra kernel command-line arguments
#   CGVM_MODULES     extra kernel modules to load at boot (sch_netem and sch_tbf
#                    are always loaded)
#   CGVM_QEMU_OPTS   extra QEMU arguments (word-split)
# shellcheck disable=SC2054  # (commas inside QEMU option strings are intended)
set -euo pipefail

PROG=${0##*/}
VERBOSE=0
die() { echo "$PROG: $*" >&2; exit 125; }
log() { [[ $VERBOSE == 1 ]] && echo "$PROG: $*" >&2; return 0; }
note() { echo "$PROG: $*" >&2; }   # one-time setup notices, always shown
usage() { sed -n '5,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 125; }

# ----------------------------------------------------------------- arguments --
MEM=2G CPUS=2 TIMEOUT=0 ACCEL=auto CWD_RW=1
RW_DIRS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --mem)        MEM=$2; shift 2 ;;
    --cpus)       CPUS=$2; shift 2 ;;
    --timeout)    TIMEOUT=$2; shift 2 ;;
    --rw)         d=$(realpath -e -- "$2") || die "--rw: no such directory: $2"
                  RW_DIRS+=("$d"); shift 2 ;;
    --no-cwd-rw)  CWD_RW=0; shift ;;
    --accel)      ACCEL=$2; shift 2 ;;
    -v|--verbose) VERBOSE=1; shift ;;
    -h|--help)    usage ;;
    --)           shift; break ;;
    *)            echo "$PROG: unknown option: $1" >&2; usage ;;
  esac
done
[[ $# -ge 1 ]] || usage
CWD=$(pwd -P)

if [[ $EUID == 0 ]]; then
  CACHE=${CGVM_CACHE_DIR:-/var/cache/cgroup2-vm}; SUDO=()
else
  CACHE=${CGVM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cgroup2-vm}; SUDO=(sudo)
fi
mkdir -p "$CACHE"

# -------------------------------------------------------- one-time host setup --
# apt/dpkg chatter goes to $CACHE/apt.log and is shown only if a step fails
# (or live with --verbose).
quietly() {
  if [[ $VERBOSE == 1 ]]; then "$@" >&2; return; fi
  "$@" > "$CACHE/apt.log" 2>&1 || { cat "$CACHE/apt.log" >&2; return 1; }
}

apt_updated=0
apt_update_once() {
  [[ $apt_updated == 1 ]] && return 0
  log "apt-get update"
  quietly "${SUDO[@]}" apt-get update -qq || die "apt-get update failed"
  apt_updated=1
}

apt_install() {  # apt_install [apt-get options] PACKAGE...
  note "first use: apt-get install ${*: -1}"
  quietly "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" || die "apt-get install $* failed"
}

ensure_tools() {
  local need=()
  command -v xz >/dev/null || need+=(xz-utils)
  command -v flock >/dev/null || need+=(util-linux)
  [[ ${#need[@]} == 0 ]] && return 0
  apt_update_once
  apt_install "${need[@]}"
}

ensure_qemu() {
  command -v qemu-system-x86_64 >/dev/null && return 0
  apt_update_once
  local -a target=()
  # Debian 12 ships QEMU 7.2. If the machine already carries backported QEMU
  # packages (these CI images have qemu-utils 10.x, which Breaks
  # qemu-system-common << 8), installing 7.2 would REMOVE them, so take
  # qemu-system-x86 from the same backports suite instead.
  # grep without -q reads to the end: under pipefail an early exit would
  # make apt-get's SIGPIPE the pipeline's status.
  if apt-get -s install --no-install-recommends qemu-system-x86 2>/dev/null | grep '^Remv ' >/dev/null; then
    local codename; codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    if ! grep -rqs -- "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      note "first use: adding ${codename}-backports to the apt sources"
      printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' \
        "Suites: ${codename}-backports" 'Components: main' \
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
        "${SUDO[@]}" tee "/etc/apt/sources.list.d/${codename}-backports.sources" >/dev/null
      apt_updated=0; apt_update_once
    fi
    target=(-t "${codename}-backports")
  fi
  log "apt-get install ${target[*]} qemu-system-x86"
  apt_install "${target[@]}" qemu-system-x86
}

# Download a .deb with apt (without installing it) and unpack it into $2.
fetch_deb() {  # fetch_deb PACKAGE DESTDIR
  local tmp; tmp=$(mktemp -d)
  # Let apt's unprivileged _apt user write there (else apt warns and falls back).
  if [[ $EUID == 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
  if ! (cd "$tmp" && quietly apt-get download -qq "$1"); then
    apt_update_once
    (cd "$tmp" && quietly apt-get download -qq "$1") || die "apt-get download $1 failed"
  fi
  dpkg-deb -x "$tmp"/*.deb "$2"
  rm -rf "$tmp"
}

ensure_busybox() {
  [[ -x $CACHE/busybox ]] && return 0
  note "first use: fetching busybox-static into $CACHE"
  local x; x=$(mktemp -d)
  fetch_deb busybox-static "$x"
  cp "$x/bin/busybox" "$CACHE/busybox.tmp" && mv "$CACHE/busybox.tmp" "$CACHE/busybox"
  rm -rf "$x"
}

# Modules the initramfs loads before it can mount the host's root (Debian
# builds them as modules, =m); their dependencies are added automatically.
BOOT_MODULES="virtio_pci virtio_console 9pnet_virtio 9p overlay"
# Also loaded at boot when the kernel package has them (skipped if not): the
# qdiscs that tests of impaired networks use (this project's host kernels lack
# netem), plus CGVM_MODULES, word-split (a module whose symbols come from an
# unlisted module fails the boot: list that one too).
EXTRA_MODULES="sch_netem sch_tbf ${CGVM_MODULES:-}"

ensure_kernel() {
  local pkg=${CGVM_KERNEL_PKG:-}
  if [[ -z $pkg && -s $CACHE/kernel-pkg ]]; then pkg=$(cat "$CACHE/kernel-pkg"); fi
  if [[ -z $pkg ]]; then
    apt_update_once
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ && !found {print $2; found = 1}')
    [[ -n $pkg ]] || die "cannot resolve linux-image-amd64 to a kernel package"
  fi
  # Keyed by the module lists too, so that editing them refreshes it.
  KDIR=$CACHE/$pkg-$(echo "$BOOT_MODULES $EXTRA_MODULES" | md5sum | cut -c1-8)
  if [[ ! -e $KDIR/vmlinux ]]; then
    note "first use: fetching $pkg into $CACHE"
    local x kver z off; x=$(mktemp -d)
    fetch_deb "$pkg" "$x"
    kver=$(ls "$x/lib/modules")
    rm -rf "$KDIR.tmp"; mkdir -p "$KDIR.tmp/modules"
    # The bzImage is xz-compressed and decompressing it under TCG costs ~4 s
    # per boot, so unpack the ELF vmlinux once; QEMU boots it via its PVH entry
    # point. (xz-utils, not busybox: busybox's unxz lacks the x86 BCJ filter.
    # xz complains about the bytes after the stream, hence the "|| true".)
    z=$x/boot/vmlinuz-$kver
    off=$(LC_ALL=C grep -abo $'\xfd7zXZ' "$z" | awk -F: 'NR == 1 {print $1}')
    [[ -n $off ]] || die "no xz payload in $z"
    tail -c +$((off + 1)) "$z" | xz -dc > "$KDIR.tmp/vmlinux" 2>/dev/null || true
    [[ $(head -c4 "$KDIR.tmp/vmlinux") == $'\x7fELF' ]] || die "could not unpack vmlinux from $z"
    cp "$x/boot/config-$kver" "$KDIR.tmp/config"
    echo "$kver" > "$KDIR.tmp/version"
    # Copy the boot modules plus dependencies (read from each .ko's .modinfo
    # "depends=" field) in load order, so the initramfs needs no depmod/modprobe.
    local -A seen=()
    local -a order=()
    add_mod() {
      local m=$1 optional=${2:-} f d
      [[ -n ${seen[$m]:-} ]] && return 0
      f=$(find "$x/lib/modules/$kver" \( -name "$m.ko" -o -name "${m//_/-}.ko" \) -print -quit)
      if [[ -z $f ]]; then
        [[ -n $optional ]] && { log "module $m not in $pkg (built in or absent): skipped"; return 0; }
        die "module $m not found in $pkg"
      fi
      seen[$m]=1
      for d in $(tr '\0' '\n' < "$f" | sed -n 's/^depends=//p' | tr ',' ' '); do add_mod "$d"; done
      cp "$f" "$KDIR.tmp/modules/"
      order+=("${f##*/}")
    }
    local m; for m in $BOOT_MODULES; do add_mod "$m"; done
    for m in $EXTRA_MODULES; do add_mod "$m" optional; done
    printf '%s\n' "${order[@]}" > "$KDIR.tmp/modules/load-order"
    rm -rf "$x" "$KDIR"; mv "$KDIR.tmp" "$KDIR"
  fi
  [[ -n ${CGVM_KERNEL_PKG:-} || -s $CACHE/kernel-pkg ]] || echo "$pkg" > "$CACHE/kernel-pkg"
}

# ---------------------------------------------------------------- guest init --
# PID 1 of the guest. Stage 1 runs in the initramfs: it mounts the host root,
# the overlay and the shares, then switch_root's into stage 2, which finishes
# setting up (cgroup2, /dev/pts, lo) and runs the command.
read -r -d '' GUEST_INIT <<'INIT_EOF' || true
#!/bin/busybox sh
# cgroup2-vm guest init (generated by run-in-cgroup2-vm.sh)
BB=/bin/busybox
P9="trans=virtio,version=9p2000.L,msize=512000"
fail() { echo "cgvm-init: $*" >&2; $BB sync; $BB poweroff -f; }

if [ "$1" != stage2 ]; then
  # ----------------- stage 1: in the initramfs -----------------
  $BB mkdir -p /proc /sys /dev /lower /upper /newroot
  $BB mount -t proc proc /proc
  $BB mount -t sysfs sysfs /sys
  $BB mount -t devtmpfs devtmpfs /dev
  for m in $($BB cat /modules/load-order); do
    $BB insmod /modules/$m || fail "insmod $m failed"
  done
  # The host's "/", read-only; page caching is fine since it is static here...
  $BB mount -t 9p -o "$P9,ro,cache=loose" cgvmroot /lower || fail "cannot mount the host root"
  # ...made writable by a tmpfs overlay whose contents die with the VM.
  $BB mount -t tmpfs -o mode=0755 tmpfs /upper
  $BB mkdir -p /upper/data /upper/work
  $BB mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /newroot \
    || fail "cannot mount the overlay root"
  $BB mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /newroot/run
  $BB mkdir -p /newroot/run/cgvm /newroot/run/cgvm-boot
  # The host's per-run directory: cmd.sh, env.sh, shares; receives "rc".
  $BB mount -t 9p -o "$P9,cache=none" cgvmrun /newroot/run/cgvm || fail "cannot mount the run dir"
  # Read-write shares (the caller's cwd, --rw dirs) at their host paths.
  while read -r tag path; do
    [ -n "$tag" ] || continue
    $BB mkdir -p "/newroot$path"
    $BB mount -t 9p -o "$P9,cache=mmap" "$tag" "/newroot$path" || fail "cannot mount $path"
  done < /newroot/run/cgvm/shares
  $BB cp /bin/busybox /init /newroot/run/cgvm-boot/
  $BB mount --move /dev /newroot/dev
  $BB mount --move /proc /newroot/proc
  $BB mount --move /sys /newroot/sys
  exec $BB switch_root /newroot /run/cgvm-boot/busybox sh /run/cgvm-boot/init stage2
  fail "switch_root failed"
fi

# ----------------- stage 2: on the overlay root -----------------
BB=/run/cgvm-boot/busybox
$BB mkdir -p /dev/pts /dev/shm /dev/mqueue
$BB mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
$BB mount -t tmpfs -o nosuid,nodev tmpfs /dev/shm
$BB mount -t mqueue mqueue /dev/mqueue 2>/dev/null
$BB ln -sf /proc/self/fd /dev/fd
$BB ln -sf /proc/self/fd/0 /dev/stdin
$BB ln -sf /proc/self/fd/1 /dev/stdout
$BB ln -sf /proc/self/fd/2 /dev/stderr
# Pure cgroup v2 at the usual place, with every controller enabled at the root.
if ! $BB grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts; then
  $BB mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2"
fi
for c in $($BB cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control
done
$BB hostname cgvm
$BB ip link set lo up 2>/dev/null
# The clock comes from the emulated RTC (1 s resolution), so it may lag the
# host's and make host-written files look "from the future" (think make/cargo
# mtime checks). Re-sync it from the host: a file created on a 9p share gets
# its mtime from the host's clock. (Uses the host's coreutils for nanoseconds.)
: > /run/cgvm/clock && /bin/date -s "$(/usr/bin/stat -c %y /run/cgvm/clock)" >/dev/null 2>&1
# The command's stdout/stderr: virtio-serial ports found by name (no udev here).
for p in /sys/class/virtio-ports/*; do
  case $($BB cat $p/name 2>/dev/null) in
    cgvm.stdout) OUT=/dev/${p##*/} ;;
    cgvm.stderr) ERR=/dev/${p##*/} ;;
  esac
done
[ -n "$OUT" ] && [ -n "$ERR" ] || fail "virtio-serial ports not found"
# systemd as PID 1 (this copy's change): it runs the command as a unit
# once the system is up, records its status and powers the guest off.
$BB mkdir -p /etc/systemd/system
$BB cat > /etc/systemd/system/cgvm-cmd.service <<UNIT_EOF
[Unit]
Description=the cgvm command
After=basic.target
[Service]
Type=oneshot
StandardInput=null
StandardOutput=file:$OUT
StandardError=file:$ERR
ExecStart=/bin/bash /run/cgvm/cmd.sh
ExecStopPost=/bin/sh -c 'echo \$EXIT_STATUS > /run/cgvm/rc.tmp; mv /run/cgvm/rc.tmp /run/cgvm/rc; sync; systemctl --force --force poweroff'
UNIT_EOF
# No console login, no network manager: only what the command needs.
for u in getty@tty1.service serial-getty@ttyS0.service systemd-networkd.service \
         systemd-timesyncd.service systemd-resolved.service apt-daily.timer apt-daily-upgrade.timer \
         e2scrub_reap.service man-db.timer logrotate.timer dpkg-db-backup.timer \
         systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service \
         systemd-udevd-control.socket systemd-udevd-kernel.socket \
         systemd-tmpfiles-setup.service systemd-tmpfiles-clean.timer systemd-tmpfiles-clean.service; do
  $BB ln -sf /dev/null /etc/systemd/system/$u
done
# systemd-tmpfiles (masked above) would empty /tmp at boot: harmless on the
# overlay, but a read-write share there is the host's own directory, which
# is why this copy refuses to share anything under /tmp or /var/tmp.
$BB umount /sys/fs/cgroup 2>/dev/null
exec /lib/systemd/systemd --unit=cgvm-cmd.service --log-target=kmsg
fail "cannot exec systemd"
INIT_EOF

ensure_initramfs() {
  INITRD=$KDIR/initramfs-$(printf '%s' "$GUEST_INIT" | md5sum | cut -c1-12).cpio.gz
  [[ -e $INITRD ]] && return 0
  log "building $INITRD"
  local r; r=$(mktemp -d)
  mkdir -p "$r/bin" "$r/modules"
  cp "$CACHE/busybox" "$r/bin/busybox"
  cp "$KDIR"/modules/* "$r/modules/"
  printf '%s\n' "$GUEST_INIT" > "$r/init"; chmod 755 "$r/init"
  (cd "$r" && find . | "$CACHE/busybox" cpio -o -H newc 2>/dev/null) | gzip -1 > "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"; rm -rf "$r"
}

ensure_tools
exec 9>"$CACHE/.lock"     # serialise first-time setup between concurrent runs
flock 9
ensure_qemu
ensure_busybox
ensure_kernel
ensure_initramfs
flock -u 9; exec 9>&-

# --------------------------------------------------------------- per-run dir --
RUN=$(mktemp -d "${TMPDIR:-/tmp}/cgvm.XXXXXX")
QEMU_PID=
cleanup() {
  if [[ -n $QEMU_PID ]]; then kill "$QEMU_PID" 2>/dev/null || true; fi
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The command, as a script for the host's /bin/bash inside the guest.
export -p > "$RUN/env.sh"
{
  echo 'set +e; . /run/cgvm/env.sh 2>/dev/null'
  echo 'unset PWD OLDPWD SHLVL _ HOSTNAME'
  printf 'cd -- %q || exit 125\n' "$CWD"
  printf 'exec'; printf ' %q' "$@"; printf '\n'
} > "$RUN/cmd.sh"

qesc() { printf '%s' "${1//,/,,}"; }   # QEMU option values escape ',' as ',,'
QEMU_ARGS=()
share() {  # share TAG HOST_DIR FSDEV_OPTIONS
  QEMU_ARGS+=(-fsdev "local,id=$1,path=$(qesc "$2"),$3"
              -device "virtio-9p-pci,fsdev=$1,mount_tag=$1")
}
# 9p shares: host root (ro), the run dir, cwd + --rw dirs (rw). As root,
# "passthrough" stores the guest's owners/modes on the host files as-is.
SECMODEL=none; [[ $EUID == 0 ]] && SECMODEL=passthrough
share cgvmroot / security_model=none,readonly=on,multidevs=remap
share cgvmrun "$RUN" security_model=none
[[ $CWD_RW == 1 && $CWD != / ]] && RW_DIRS=("$CWD" "${RW_DIRS[@]}")
: > "$RUN/shares"
i=0
for d in "${RW_DIRS[@]}"; do
  [[ $d == / ]] && die "refusing to share / read-write"
  # This copy's guest boots systemd, whose tmpfiles would empty them.
  [[ $d == /tmp || $d == /tmp/* || $d == /var/tmp || $d == /var/tmp/* ]] &&
    die "refusing to share $d read-write: run from (and --rw) a directory outside /tmp and /var/tmp"
  [[ $d == *$'\n'* ]] && die "cannot share a path containing a newline"
  share "cgvmrw$i" "$d" "security_model=$SECMODEL,multidevs=remap"
  printf 'cgvmrw%d %s\n' "$i" "$d" >> "$RUN/shares"
  i=$((i + 1))
done

# Guest streams -> FIFOs -> cat -> our stdout/stderr. (A QEMU "file" chardev
# pointed at /proc/self/fd/1 re-opens the file at offset 0, so output into a
# redirected regular file would overwrite itself; FIFOs avoid that.) We hold
# each FIFO open read-write on fd 7/8 so that cat never blocks in open() even
# if QEMU dies early; once QEMU has exited we close them and cat sees EOF.
mkfifo "$RUN/out" "$RUN/err" "$RUN/con"
exec 7<>"$RUN/out" 8<>"$RUN/err" 6<>"$RUN/con"
cat "$RUN/out" 6>&- 7>&- 8>&- & CAT_OUT=$!
cat "$RUN/err" >&2 6>&- 7>&- 8>&- & CAT_ERR=$!
if [[ $VERBOSE == 1 ]]; then   # kernel console: to our stderr, or to a log file
  cat "$RUN/con" >&2 6>&- 7>&- 8>&- & CAT_CON=$!; LOGLEVEL=7
else
  cat "$RUN/con" > "$RUN/console.log" 6>&- 7>&- 8>&- & CAT_CON=$!; LOGLEVEL=1
fi
QEMU_ARGS+=(
  -device virtio-serial-pci,id=vser
  -chardev "file,id=out,path=$(qesc "$RUN/out")"
  -device virtserialport,bus=vser.0,chardev=out,name=cgvm.stdout
  -chardev "file,id=err,path=$(qesc "$RUN/err")"
  -device virtserialport,bus=vser.0,chardev=err,name=cgvm.stderr
  -chardev "file,id=con,path=$(qesc "$RUN/con")" -serial chardev:con
)

if [[ $ACCEL == auto ]]; then
  ACCEL=tcg
  if [[ -r /dev/kvm && -w /dev/kvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo; then ACCEL=kvm; fi
fi
case $ACCEL in
  kvm) QEMU_ARGS+=(-accel kvm -cpu host) ;;
  tcg) QEMU_ARGS+=(-accel tcg,thread=multi -cpu max) ;;   # multi-threaded TCG: 1 host thread per vCPU
  *)   die "--accel must be auto, kvm or tcg" ;;
esac
log "accel=$ACCEL mem=$MEM cpus=$CPUS kernel=$(cat "$KDIR/version")"

# cgroup_no_v1=all: pure v2. mitigations=off, cryptomgr.notests: faster under TCG.
APPEND="console=ttyS0 loglevel=$LOGLEVEL panic=-1 cgroup_no_v1=all mitigations=off cryptomgr.notests rdinit=/init"
# q35 + SeaBIOS; "microvm" was tried and hangs intermittently under TCG.
QEMU_ARGS+=(
  -M q35 -m "$MEM" -smp "$CPUS"
  -nodefaults -no-user-config -display none -no-reboot -net none
  -kernel "$KDIR/vmlinux" -initrd "$INITRD" -append "$APPEND ${CGVM_APPEND:-}"
)
# shellcheck disable=SC2206
[[ -n ${CGVM_QEMU_OPTS:-} ]] && QEMU_ARGS+=($CGVM_QEMU_OPTS)

set +e
if [[ $TIMEOUT != 0 ]]; then
  timeout -k 5 "$TIMEOUT" qemu-system-x86_64 "${QEMU_ARGS[@]}" </dev/null 6>&- 7>&- 8>&- &
else
  qemu-system-x86_64 "${QEMU_ARGS[@]}" </dev/null 6>&- 7>&- 8>&- &
fi
QEMU_PID=$!
wait "$QEMU_PID"; QRC=$?
QEMU_PID=
exec 6>&- 7>&- 8>&-
wait "$CAT_OUT" "$CAT_ERR" "$CAT_CON"
set -e

if [[ $TIMEOUT != 0 && $QRC == 124 ]]; then
  echo "$PROG: timed out after ${TIMEOUT}s" >&2
  exit 124
fi
if [[ -s $RUN/rc ]]; then
  exit "$(cat "$RUN/rc")"
fi
echo "$PROG: the VM stopped (qemu exit status $QRC) before the command reported its status" >&2
if [[ -s $RUN/console.log ]]; then
  echo "---- guest console (last 60 lines) ----" >&2
  tail -n 60 "$RUN/console.log" >&2
fi
exit 125

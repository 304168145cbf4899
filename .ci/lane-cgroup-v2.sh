#!/usr/bin/env bash
# Lane 2 of CI (and the delegated half of lane 3): the integration tests that
# depend on cgroups and the sandbox, run in a guest kernel with a pure cgroup
# v2 hierarchy (these machines are cgroup v1). Everything is built on the
# host; the guest (emulated, ~30x slower) only runs binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
vm=${CGVM_SCRIPT:-../shared/vm/run-in-cgroup2-vm.sh}
if [ ! -f "$vm" ]; then
  echo "cgroup v2 lane: $vm not found" >&2
  exit 1
fi

cargo build --locked
itbin=$(cargo test --locked --no-run --test integration --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "integration":
        print(m["executable"])')

# Fixtures copied and built once, so the guest runs no compiler.
pre=$PWD/target/cgroup-v2-lane
rm -rf "$pre"
mkdir -p "$pre"
for f in faults probes multi hostile fidelity flaky leaky signals hungry; do
  cp -r "fixtures/$f" "$pre/"
  (cd "$pre/$f" && cargo test --locked --workspace --no-run -q)
done

tests=(
  isolation_properties_hold_inside_every_test
  reused_network_namespaces_keep_the_probes_passing
  every_way_a_test_can_end_is_reported
  peak_memory_of_a_96_mib_test_is_accurate
  workspace_with_a_dylib_dependency
  reports_follow_the_schema
  run_subcommand_sandboxes_any_program
  run_subcommand_enforces_the_memory_limit
  cpu_limit_throttles_the_sandbox
  rootless_run_as_an_ordinary_user
  rootless_with_a_delegated_cgroup_v2
  nothing_is_left_behind_after_a_run
  signals::a_signal_during_the_run_keeps_the_finished_tests
  sigkill_of_the_runner_leaves_no_test_running
  boundary::hostile_tests_are_contained_as_root
  boundary::hostile_tests_are_contained_rootless
  boundary::a_root_test_keeps_what_it_owns
  boundary::a_root_test_cannot_raise_its_own_memory_limit
  sys_is_the_sandboxs_own_or_the_hosts_when_asked
  flaky::a_delay_doubles_into_the_round_trip_with_netem_or_nfqueue
  flaky::a_test_that_passes_on_a_retry_is_flaky_with_every_attempt
  flaky::hosts_points_a_fixed_name_at_a_loopback_fake
  leaks::nothing_leaks_between_tests_on_one_worker
  second_wall::a_root_test_reaches_no_host_cgroup_and_no_key
  second_wall::a_seccomp_profile_refuses_what_it_names
  containers::an_oom_kill_at_an_enclosing_limit_names_that_cgroup
)
# The fork bomb runs alone in a guest of its own: its 4096 tasks burn through
# pids and memory that the tests beside it would otherwise compete for.
alone=(second_wall::a_fork_bomb_stops_at_the_default_pids_limit)
# ISOLATE_LANE_TESTS="a b": only these (a quick check of a few in the guest).
# A test `#[ignore]`d because only this lane can run it is named here too: the
# guest runs the named tests with --include-ignored.
if [ -n "${ISOLATE_LANE_TESTS:-}" ]; then
  read -r -a tests <<<"$ISOLATE_LANE_TESTS"
  alone=()
fi
# What the guests print is kept, to check the skips against the lane's list.
log=$pre/lane.log
: >"$log"
echo "== cgroup v2 lane: ${#tests[@]} integration tests in the guest"
bash "$vm" --mem 1536M --cpus 2 --timeout 2400 -- \
  bash .ci/lane-cgroup-v2-guest.sh "$itbin" "$pre" "${tests[@]}" 2>&1 | tee -a "$log"
for t in "${alone[@]}"; do
  echo "== cgroup v2 lane: $t, alone in the guest"
  bash "$vm" --mem 2048M --cpus 2 --timeout 600 -- \
    bash .ci/lane-cgroup-v2-guest.sh "$itbin" "$pre" "$t" 2>&1 | tee -a "$log"
done
# Every test named ran: none skipped but those .ci/expected-skips/cgroup-v2.txt
# lists (of the ones named, when ISOLATE_LANE_TESTS picks a few).
python3 .ci/check-skips.py cgroup-v2 "$log" --only "${tests[@]}" "${alone[@]}"

#!/usr/bin/env bash
# Runs the end-to-end suite inside a network namespace of its own, so the
# DPDK build's TAP ports (bme100..bme199, 10.99.N.0/24), the kernel build's
# loopback ports and every client stay in there:
#
#     harness/e2e/run_in_netns.sh [pytest arguments...]     (as root, from anywhere)
#
# BAREMAIL_BUILDS defaults to kernel,dpdk here; BAREMAIL_BUILD_DIR and the
# other variables of conftest.py pass through. The namespace is deleted
# afterwards, also on failure, Ctrl-C or SIGTERM: pytest is asked to stop
# (its fixtures kill the servers), then whatever still runs in the namespace
# is killed by pid, then the namespace and the EAL runtime files go.
# Exit status: pytest's.
set -uo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
    echo "run_in_netns.sh: needs root (network namespace, TAP ports)" >&2
    exit 2
fi

ns="bm-e2e-$$"
pytest_pid=""

pids_in_ns() { ip netns pids "$ns" 2>/dev/null; }

cleanup() {
    trap - EXIT INT TERM HUP
    if [ -n "$pytest_pid" ] && kill -0 "$pytest_pid" 2>/dev/null; then
        kill -TERM "$pytest_pid" 2>/dev/null  # conftest turns this into KeyboardInterrupt: teardown runs
        for _ in $(seq 300); do kill -0 "$pytest_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pytest_pid" 2>/dev/null
        wait "$pytest_pid" 2>/dev/null
    fi
    if ip netns list 2>/dev/null | grep -qw "^$ns"; then
        # Servers (and daemons) the suite started that are still there: by pid.
        for sig in TERM KILL; do
            pids=$(pids_in_ns)
            [ -z "$pids" ] && break
            for pid in $pids; do kill -"$sig" "$pid" 2>/dev/null; done
            for _ in $(seq 50); do [ -z "$(pids_in_ns)" ] && break; sleep 0.1; done
        done
        ip netns del "$ns" 2>/dev/null || echo "run_in_netns.sh: could not delete namespace $ns" >&2
    fi
    if [ -n "$pytest_pid" ]; then
        rm -rf /var/run/dpdk/bme*-"$pytest_pid"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Namespaces left by a run that was killed outright (SIGKILL): its runner is gone.
for stale in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^bm-e2e-[0-9]+$'); do
    owner=${stale#bm-e2e-}
    kill -0 "$owner" 2>/dev/null && continue
    for pid in $(ip netns pids "$stale" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    sleep 0.2
    ip netns del "$stale" 2>/dev/null && echo "run_in_netns.sh: removed stale namespace $stale" >&2
done

ip netns add "$ns" || exit 2
ip netns exec "$ns" ip link set lo up || exit 2
# No IPv6 chatter (router solicitations, DAD, MLD) on the TAP ports.
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
    >/dev/null 2>&1 || true

# The whole suite unless the arguments name tests (a path or node id).
where=harness/e2e
for arg in "$@"; do
    case "$arg" in
        harness/*|*.py|*::*) where="" ;;
    esac
done
# In the background, so a signal to this script runs the trap at once.
ip netns exec "$ns" env BAREMAIL_BUILDS="${BAREMAIL_BUILDS:-kernel,dpdk}" \
    /usr/bin/python3 -m pytest $where "$@" &
pytest_pid=$!
wait "$pytest_pid"
exit $?

#!/usr/bin/env bash
# Captures one standard SMTP session (swaks: EHLO, MAIL, RCPT, DATA, QUIT)
# against each build and prints, per build, how many segments the server
# sent and how many of them were pure ACKs (no payload, no SYN/FIN/RST).
#
#   harness/capture_segments.sh            (as root; binaries from $BAREMAIL_BUILD_DIR,
#                                            default <repo>/build)
#   KEEP_PCAPS=DIR harness/capture_segments.sh   (keep the two pcaps in DIR)
#
# Everything runs inside a network namespace this script creates and
# deletes (bmscap-<pid>): baremail-kernel on its loopback, baremail on a
# TAP (bmscap<pid>, 10.99.249.1/24, the namespace kernel is 10.99.249.2).
# Needs tshark and swaks (harness/install_deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BUILD_DIR=${BAREMAIL_BUILD_DIR:-$REPO/build}
PORT=2525

if [ -z "${BMS_CAPTURE_INSIDE:-}" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "capture_segments.sh: needs root (network namespace)" >&2; exit 2; }
    for tool in tshark swaks ip; do
        command -v "$tool" >/dev/null || { echo "capture_segments.sh: $tool not installed (harness/install_deps.sh)" >&2; exit 2; }
    done
    NS=bmscap-$$
    ip netns add "$NS"
    trap 'ip netns del "$NS" 2>/dev/null || true' EXIT
    rc=0
    BMS_CAPTURE_INSIDE=1 BAREMAIL_BUILD_DIR="$BUILD_DIR" ip netns exec "$NS" "$0" "$@" || rc=$?
    exit $rc
fi

# ---------------------------------------------------------------- inside the namespace
ip link set lo up
for knob in all default; do echo 1 > /proc/sys/net/ipv6/conf/$knob/disable_ipv6 2>/dev/null || true; done

WORK=$(mktemp -d /tmp/bmscap.XXXXXX)
PIDS=()
PREFIX=bmscap-$$
IFACE=bmscap$$
NET=10.99.249

cleanup() {
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "/var/run/dpdk/$PREFIX"
    rm -rf "$WORK"
}
trap cleanup EXIT

find_binary() {
    for sub in "" dataplane dataplane/dpdk dataplane/kernel; do
        [ -x "$BUILD_DIR/$sub/$1" ] && { echo "$BUILD_DIR/$sub/$1"; return; }
    done
    echo "capture_segments.sh: $1 not found under $BUILD_DIR" >&2
    exit 2
}

# wait_accepts IP PID: bounded probe until the SMTP port accepts (before any capture).
wait_accepts() {
    for _ in $(seq 60); do
        kill -0 "$2" 2>/dev/null || { echo "capture_segments.sh: the server exited before $1:$PORT accepted" >&2; return 1; }
        if timeout 1 bash -c "exec 3<>/dev/tcp/$1/$PORT && head -c 3 <&3 >/dev/null" 2>/dev/null; then
            sleep 0.3
            return 0
        fi
        sleep 0.25
    done
    echo "capture_segments.sh: $1:$PORT never accepted" >&2
    return 1
}

# capture NAME IFACE SERVER_IP: one swaks session with tshark on IFACE, then the counts.
capture() {
    local name=$1 iface=$2 ip=$3 pcap=$WORK/$1.pcapng
    tshark -i "$iface" -f "tcp port $PORT" -w "$pcap" -q >"$WORK/$name.tshark.log" 2>&1 &
    local tshark_pid=$!
    PIDS+=("$tshark_pid")
    for _ in $(seq 100); do
        grep -q "Capturing on" "$WORK/$name.tshark.log" 2>/dev/null && break
        sleep 0.1
    done
    sleep 0.5
    swaks --server "$ip" --port "$PORT" --helo capture.test --from bob@example.org --to alice@localhost \
        --header "Subject: capture" --body "one standard session" --timeout 15 >"$WORK/$name.swaks.log" 2>&1 \
        || { echo "$name: swaks failed:"; cat "$WORK/$name.swaks.log"; return 1; }
    sleep 1.5   # the server's last FIN/ACK exchanges
    kill -INT "$tshark_pid"
    for _ in $(seq 50); do kill -0 "$tshark_pid" 2>/dev/null || break; sleep 0.1; done
    # tcp.len, then SYN FIN RST flags (tshark prints 1/0 or True/False).
    tshark -r "$pcap" -Y "ip.src==$ip && tcp.srcport==$PORT" -T fields \
        -e tcp.len -e tcp.flags.syn -e tcp.flags.fin -e tcp.flags.reset 2>/dev/null |
        awk -v name="$name" '
            function set(x) { return x == "1" || x == "True" }
            { total++; if ($1 > 0) data++
              if ($1 == 0 && !set($2) && !set($3) && !set($4)) pure++ }
            END { printf "%s: server sent %d segments, %d pure ACKs (%d with data)\n", name, total, pure, data }'
    tshark -r "$pcap" -Y "tcp.port==$PORT" -T fields -e frame.time_relative -e ip.src -e tcp.flags.str -e tcp.len \
        2>/dev/null >"$WORK/$name.segments.txt" || true
    if [ -n "${KEEP_PCAPS:-}" ]; then
        mkdir -p "$KEEP_PCAPS" && cp "$pcap" "$WORK/$name.segments.txt" "$KEEP_PCAPS/"
    fi
    grep -q "250 " "$WORK/$name.swaks.log" || { echo "$name: no 250 in the session"; return 1; }
}

mailbox() { mkdir -p "$1"/mail/{alice,postmaster}/{cur,new,tmp}; }  # no postmaster, no start

# --- baremail-kernel on loopback
KERNEL=$(find_binary baremail-kernel)
mailbox "$WORK/k"
# --dns: the namespace has no route to the host's resolver (the relay is not used here).
"$KERNEL" -d "$WORK/k/mail" --ip 127.0.0.1 --dns 127.0.0.1 --smtp-port $PORT --pop3-port 0 --echo-port 0 \
    --hostname capture.test >"$WORK/k.stderr" 2>&1 &
PIDS+=($!)
wait_accepts 127.0.0.1 "${PIDS[-1]}" || { cat "$WORK/k.stderr"; exit 1; }
capture "baremail-kernel (loopback)" lo 127.0.0.1
kernel_msgs=$(ls "$WORK/k/mail/alice/new" | wc -l)

# --- baremail on a TAP
DPDK=$(find_binary baremail)
mailbox "$WORK/d"
"$DPDK" --no-huge -m 512 --no-pci --vdev "net_tap0,iface=$IFACE" --file-prefix "$PREFIX" -- \
    -d "$WORK/d/mail" --ip "$NET.1/24" --smtp-port $PORT --pop3-port 0 --echo-port 0 \
    --hostname capture.test >"$WORK/d.stderr" 2>&1 &
DPDK_PID=$!
PIDS+=($DPDK_PID)
for _ in $(seq 300); do ip link show dev "$IFACE" >/dev/null 2>&1 && break; sleep 0.1; done
ip link show dev "$IFACE" >/dev/null 2>&1 || { echo "TAP $IFACE never appeared:"; cat "$WORK/d.stderr"; exit 1; }
ip addr add "$NET.2/24" dev "$IFACE"
ip link set "$IFACE" up
wait_accepts "$NET.1" "$DPDK_PID" || { cat "$WORK/d.stderr"; exit 1; }
capture "baremail (DPDK, TAP)" "$IFACE" "$NET.1"
dpdk_msgs=$(ls "$WORK/d/mail/alice/new" | wc -l)

echo "messages delivered: kernel $kernel_msgs, dpdk $dpdk_msgs"
[ "$kernel_msgs" -eq 1 ] && [ "$dpdk_msgs" -eq 1 ]

#!/usr/bin/env bash
# Installs, builds, and runs baremail — the DPDK build with its own TCP/IP
# stack — on its default port: a TAP device bm0, the stack at 10.99.0.1,
# this host at 10.99.0.2. Then sends a message to demo@localhost with swaks,
# fetches it back over POP3 with fetchmail, shows it, and leaves the server
# running until Ctrl+C.
#   DEMO_BUILD=kernel  run baremail-kernel on 127.0.0.1 instead
#   DEMO_EXIT=1        stop after the demo
set -euo pipefail
cd "$(dirname "$0")/.."
bash harness/install_deps.sh
bash harness/build.sh >/dev/null

demo=$(mktemp -d /tmp/baremail-demo.XXXXXX)
mkdir -p "$demo/mail/"{demo,postmaster}/{cur,new,tmp}  # postmaster: RFC 5321 4.5.1
echo "demo:demo" >"$demo/users"
chmod 600 "$demo/users"
options=(-d "$demo/mail" --users "$demo/users" --log "$demo/baremail.log")

if [ "${DEMO_BUILD:-dpdk}" = kernel ]; then
    server_ip=127.0.0.1
    build/baremail-kernel "${options[@]}" &
else
    server_ip=10.99.0.1
    build/baremail -- "${options[@]}" &
fi
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$demo"' EXIT

if [ "$server_ip" = 10.99.0.1 ]; then
    for _ in $(seq 100); do ip link show bm0 >/dev/null 2>&1 && break; sleep 0.1; done
    ip addr add 10.99.0.2/24 dev bm0
    ip link set bm0 up
fi
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/$server_ip/2500") 2>/dev/null && break
    sleep 0.1
done

echo "== swaks: sending a message to demo@localhost over SMTP ($server_ip:2500)"
swaks --server "$server_ip:2500" --to demo@localhost --from alice@example.org \
      --header "Subject: baremail demo" --body "Hello from the baremail demo." |
    grep -E '^(<-|->) *(2[0-9][0-9]|3[0-9][0-9]|MAIL|RCPT|DATA|QUIT|EHLO)' || true

echo "== fetchmail: retrieving it over POP3 ($server_ip:11000)"
cat >"$demo/fetchmailrc" <<RC
poll $server_ip service 11000 protocol pop3 auth password user "demo" password "demo" is root here
    mda "cat > $demo/fetched.eml"
RC
chmod 600 "$demo/fetchmailrc"
fetchmail -f "$demo/fetchmailrc" --nosoftbounce --sslproto '' -v 2>&1 | grep -E 'message|POP3> (RETR|QUIT)' | head -10 || true
echo "== the fetched message"
cat "$demo/fetched.eml"

if [ "${DEMO_EXIT:-0}" = 1 ]; then exit 0; fi
echo "== server running (SMTP $server_ip:2500, POP3 :11000, echo :10000); Ctrl+C stops it"
wait $server

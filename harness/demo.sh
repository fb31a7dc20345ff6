#!/usr/bin/env bash
# Installs, builds, and runs baremail-kernel on its default ports (SMTP 2500,
# POP3 11000, echo 10000) with a demo mail dir: sends a message to
# demo@localhost with swaks, fetches it back over POP3 with fetchmail, shows
# it, and leaves the server running until Ctrl+C. DEMO_EXIT=1 stops after
# the demo instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash harness/install_deps.sh
bash harness/build.sh >/dev/null

demo=$(mktemp -d /tmp/baremail-demo.XXXXXX)
mkdir -p "$demo/mail/demo/"{cur,new,tmp}
echo "demo:demo" >"$demo/users"
chmod 600 "$demo/users"

build/baremail-kernel -d "$demo/mail" --users "$demo/users" --log "$demo/baremail.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$demo"' EXIT
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/2500) 2>/dev/null && break
    sleep 0.1
done

echo "== swaks: sending a message to demo@localhost over SMTP (port 2500)"
swaks --server 127.0.0.1:2500 --to demo@localhost --from alice@example.org \
      --header "Subject: baremail demo" --body "Hello from the baremail demo." | grep -E '^( ->|<-|<~|~>)  (250|221|MAIL|RCPT|DATA|QUIT)' || true

echo "== fetchmail: retrieving it over POP3 (port 11000)"
cat >"$demo/fetchmailrc" <<RC
poll 127.0.0.1 service 11000 protocol pop3 auth password user "demo" password "demo" is root here
    mda "cat > $demo/fetched.eml"
RC
chmod 600 "$demo/fetchmailrc"
fetchmail -f "$demo/fetchmailrc" --nosoftbounce --sslproto '' -v 2>&1 | grep -E 'message|reading|POP3>' | head -20 || true
echo "== the fetched message"
cat "$demo/fetched.eml"

if [ "${DEMO_EXIT:-0}" = 1 ]; then exit 0; fi
echo "== baremail-kernel is running (SMTP :2500, POP3 :11000, echo :10000); Ctrl+C stops it"
wait $server

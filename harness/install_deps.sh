#!/usr/bin/env bash
# Installs everything baremail builds, tests and benchmarks with (Debian 12).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends \
    build-essential g++ meson ninja-build pkg-config \
    libdpdk-dev dpdk libssl-dev libcrypt-dev libgtest-dev libbenchmark-dev \
    python3 python3-pytest python3-scapy \
    swaks fetchmail getmail6 iproute2 procps psmisc ca-certificates tshark >/dev/null

#!/usr/bin/env bash
# Installs everything baremail builds, tests and benchmarks with (Debian 12):
# the packages listed in harness/packages.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends $(grep -v '^#' harness/packages.txt) >/dev/null

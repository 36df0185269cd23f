#!/usr/bin/env bash
# Installs the Debian packages the tests use as real peers (socat for serial null-modem
# pairs; smbd from samba for the SMB source's tests) when they are missing. Safe to run repeatedly.
set -euo pipefail
need=()
command -v socat >/dev/null 2>&1 || need+=(socat)
{ command -v smbd || test -x /usr/sbin/smbd; } >/dev/null 2>&1 || need+=(samba)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)  # `verify` checks the unit `medflow-edge install` writes
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "system-deps: missing ${need[*]}; install them with your package manager (tests needing them will fail under CI)" >&2
  exit 0
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

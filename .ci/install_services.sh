#!/usr/bin/env bash
# Servers the telemetry and shared-state tests start themselves (issue #18): Prometheus scrapes the
# proxy, redis-server holds shared sessions, haproxy balances two replicas. Idempotent: installs only
# what is missing, and runs `apt-get update` at most once. Tests skip with a reason when a binary is absent.
set -euo pipefail

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)

if ((${#need[@]} == 0)); then
    echo "install_services: prometheus, redis-server and haproxy already installed"
    exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${need[@]}"
# The packages enable their own system services; the tests run private instances on free loopback
# ports instead, so stop the system ones where a service manager exists (harmless where none does).
for svc in prometheus redis-server haproxy; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
echo "install_services: installed ${need[*]}"

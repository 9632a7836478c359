#!/bin/sh
# Install the operations tools the test suite needs, if missing: Prometheus and promtool from the
# Debian package `prometheus` (promtool checks and unit-tests deploy/prometheus; the server is
# started by tests/integration/test_prometheus.py on a free port and stopped again).
#
# Idempotent: does nothing when both binaries are on PATH. Never leaves a Prometheus daemon
# running: the package's service is kept from starting during the install (policy-rc.d), and the
# systemd unit, if systemd runs at all, is stopped and disabled afterwards.
#
#   sh deploy/install-tools.sh        (as root, or with sudo available)
set -eu

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install-tools: promtool/prometheus missing and not root (no sudo): install the Debian" >&2
    echo "package 'prometheus' (apt-get install prometheus) and run again." >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-tools: no apt-get here; install Prometheus 2.x (prometheus + promtool) by hand." >&2
    exit 1
fi

# Keep maintainer scripts from starting the daemon (invoke-rc.d honours policy-rc.d: 101 = deny).
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    ADDED_POLICY=1
fi
cleanup() {
    if [ -n "$ADDED_POLICY" ]; then
        $SUDO rm -f "$POLICY"
    fi
}
trap cleanup EXIT INT TERM

echo "install-tools: installing the Debian package 'prometheus' (promtool + server) ..."
if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
        >/tmp/branchcare-install-tools.log 2>&1; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >>/tmp/branchcare-install-tools.log 2>&1
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
        >>/tmp/branchcare-install-tools.log 2>&1 || {
        echo "install-tools: apt-get install prometheus failed; see /tmp/branchcare-install-tools.log" >&2
        exit 1
    }
fi

# Belt and braces: if a pre-existing policy let the packaged service start anyway, stop it.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl stop prometheus.service >/dev/null 2>&1 || true
    $SUDO systemctl disable prometheus.service >/dev/null 2>&1 || true
elif [ -f /run/prometheus/prometheus.pid ] && [ -x /etc/init.d/prometheus ]; then
    $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi

promtool --version 2>&1 | head -n 1

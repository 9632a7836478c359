#!/usr/bin/env bash
# Install Debian's headless Chromium (chromium + chromium-driver) for the browser tests, when missing,
# plus a CJK font so the Chinese pages render as text rather than boxes in the screenshots.
# Idempotent: does nothing when the packages are already installed.
# Never downloads a browser from anywhere but the system's apt sources (no `playwright install`).
set -euo pipefail

PACKAGES=(chromium chromium-driver fonts-wqy-zenhei)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-browser: already installed ($(chromium --version 2>/dev/null || echo chromium))"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-browser: need root (or sudo) to apt-get install chromium chromium-driver" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-browser: apt-get update ..."
"${SUDO[@]}" apt-get update -qq
echo "install-browser: apt-get install ${missing[*]} ..."
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-browser: $(chromium --version)"

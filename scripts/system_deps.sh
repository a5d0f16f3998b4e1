#!/usr/bin/env bash
# System libraries Hearth needs beyond Python packages. Installs them with apt-get
# when it can (root on Debian/Ubuntu); otherwise says exactly what to install.
set -euo pipefail

need=()
ldconfig -p 2>/dev/null | grep -q 'libportaudio\.so\.2' || need+=(libportaudio2)

if [ ${#need[@]} -eq 0 ]; then
    echo "System libraries: ok"
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing system libraries: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
else
    echo "Missing system libraries: ${need[*]}" >&2
    echo "Install them, e.g.: sudo apt-get install ${need[*]}" >&2
    echo "(Without PortAudio, the server and tests still run; only 'hearth talk' needs it.)" >&2
fi

#!/usr/bin/env bash
# System libraries Hearth needs beyond Python packages. Installs them with apt-get
# when it can (root on Debian/Ubuntu); otherwise says exactly what to install.
set -euo pipefail

# What each is for: libportaudio2, the microphone and speaker of `hearth talk`;
# chromium, the browser the web client's tests drive (tests/web/); fonts-nanum, a
# Hangul font so the page in Korean (and its screenshots) shows Korean, not boxes;
# espeak-ng, the voice for languages no Piper voice speaks (Korean), which the speech
# tests use.
need=()
ldconfig -p 2>/dev/null | grep -q 'libportaudio\.so\.2' || need+=(libportaudio2)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium)
[ -d /usr/share/fonts/truetype/nanum ] || need+=(fonts-nanum)
command -v espeak-ng >/dev/null || need+=(espeak-ng)

if [ ${#need[@]} -eq 0 ]; then
    echo "System libraries: ok"
    exit 0
fi
without() {
    echo "(Without them, the server and tests still run: 'hearth talk' needs PortAudio," \
         "the browser tests, skipped without it, need Chromium, Korean speech needs" \
         "espeak-ng, and without fonts-nanum Korean shows as boxes.)" >&2
}
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing system libraries: ${need[*]}"
    # A package this system lacks (Ubuntu has no plain `chromium`) is reported, not fatal.
    apt-get update -qq || true
    for package in "${need[@]}"; do
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" \
            || { echo "Could not install $package: install it by hand." >&2; without; }
    done
else
    echo "Missing system libraries: ${need[*]}" >&2
    echo "Install them, e.g.: sudo apt-get install ${need[*]}" >&2
    without
fi

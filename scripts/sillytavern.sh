#!/usr/bin/env bash
# Installs SillyTavern, pinned in tests/sillytavern/package-lock.json, for the tests that
# drive it (tests/sillytavern/). Skipped without node and npm; fast once installed; a
# failure is reported, never fatal: those tests then skip and say why.
set -uo pipefail

dir="$(cd "$(dirname "$0")/../tests/sillytavern" && pwd)"
stamp="$dir/node_modules/.hearth-installed"  # a copy of the lock file that was installed

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "SillyTavern: node and npm are missing, so tests/sillytavern will skip" \
         "(install Node.js 20 or newer, e.g. sudo apt-get install nodejs npm)" >&2
    exit 0
fi
if cmp -s "$dir/package-lock.json" "$stamp"; then
    echo "SillyTavern: ok"
    exit 0
fi
echo "Installing SillyTavern for the tests (npm ci in tests/sillytavern, about a minute)"
# --ignore-scripts: no install script of its dependencies is needed to run the server.
if (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error); then
    cp "$dir/package-lock.json" "$stamp"
else
    echo "SillyTavern: npm ci failed; tests/sillytavern will skip. Retry with" \
         "\`bash scripts/sillytavern.sh\`." >&2
fi
exit 0

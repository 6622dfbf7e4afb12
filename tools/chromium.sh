#!/usr/bin/env bash
# Print the path of a headless-capable Chromium for tests/test_docs.py (the render check), making one available
# if none is:
#
#   bash tools/chromium.sh          # prints e.g. /usr/bin/chromium, or .cache/chromium/bin/chromium
#
# 1. $CHROMIUM, if set and executable;
# 2. chromium, chromium-browser, google-chrome or google-chrome-stable on PATH;
# 3. otherwise Debian's chromium package and the libraries this system lacks, fetched with
#    `apt-get download` (what `apt-get -s install chromium` would install) and unpacked with
#    `dpkg -x` into .cache/chromium/ (gitignored; no root needed), behind a wrapper script that sets
#    LD_LIBRARY_PATH. Run `apt-get update` first on a machine whose package lists are empty.
#    As root, `apt-get install chromium` does the same system-wide.
# Exits 1 with a message on stderr when none can be had (the render test then skips).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/.cache/chromium"

if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then
    echo "$CHROMIUM"; exit 0
fi
for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; exit 0; fi
done
if [ -x "$DEST/bin/chromium" ] && "$DEST/bin/chromium" --version >/dev/null 2>&1; then
    echo "$DEST/bin/chromium"; exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
    echo "chromium.sh: no chromium found and no apt-get/dpkg to fetch one; set CHROMIUM=/path/to/chromium" >&2
    exit 1
fi

packages=$(apt-get -s install --no-install-recommends chromium 2>/dev/null | awk '/^Inst /{print $2}')
if [ -z "$packages" ]; then
    echo "chromium.sh: apt knows no chromium package (run apt-get update?)" >&2
    exit 1
fi
rm -rf "$DEST.tmp" && mkdir -p "$DEST.tmp/debs" "$DEST.tmp/root" "$DEST.tmp/bin"
# shellcheck disable=SC2086
(cd "$DEST.tmp/debs" && apt-get download $packages >/dev/null 2>&1) || {
    echo "chromium.sh: apt-get download failed for: $packages" >&2; exit 1; }
for deb in "$DEST.tmp"/debs/*.deb; do dpkg -x "$deb" "$DEST.tmp/root"; done
rm -rf "$DEST.tmp/debs"
cat > "$DEST.tmp/bin/chromium" <<'WRAP'
#!/usr/bin/env bash
here=$(cd "$(dirname "$0")/.." && pwd)
libs="$here/root/usr/lib/x86_64-linux-gnu:$here/root/usr/lib/x86_64-linux-gnu/pulseaudio:$here/root/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$here/root/usr/lib/chromium/chromium" "$@"
WRAP
chmod +x "$DEST.tmp/bin/chromium"
rm -rf "$DEST" && mv "$DEST.tmp" "$DEST"
if ! "$DEST/bin/chromium" --version >/dev/null 2>&1; then
    echo "chromium.sh: the unpacked chromium does not start:" >&2
    "$DEST/bin/chromium" --version >&2 || true
    exit 1
fi
echo "$DEST/bin/chromium"

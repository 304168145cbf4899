#!/usr/bin/env bash
# The guide (docs/guide, mdBook) and the README's set-up line.
#
# - mdBook builds the guide with no warning and no error (its links and
#   anchors, and every `console` example, are checked by `cargo test`:
#   tests/integration/guide.rs);
# - headless Chromium opens the built start page and takes a screenshot,
#   which must show a rendered page, not a blank one;
# - the README's first block runs as written, from the repository's root:
#   the install (a release build; bench smoke has built it already, so
#   cargo reuses target/release) and the demo, which exits 100 on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."

MDBOOK_VERSION=0.5.4
if ! mdbook --version 2>/dev/null | grep "v$MDBOOK_VERSION" >/dev/null; then
  echo "== installing mdBook $MDBOOK_VERSION (for the guide)"
  cargo install --locked --quiet mdbook --version "$MDBOOK_VERSION"
fi

echo "== guide: mdbook build"
rm -rf target/guide
log=$(mktemp)
trap 'rm -f "$log"' EXIT
mdbook build docs/guide 2>&1 | tee "$log"
if grep -Eq '(WARN|ERROR)' "$log"; then
  echo "guide: mdbook printed warnings or errors (above)" >&2
  exit 1
fi
pages=$(find target/guide -name '*.html' | wc -l)
echo "guide: built, $pages HTML files"

echo "== guide: screenshot of the start page (headless chromium)"
shot=target/guide-start.png
profile=$(mktemp -d)
rm -f "$shot"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1280,900 --hide-scrollbars \
  --screenshot="$shot" "file://$PWD/target/guide/index.html" 2>/dev/null || true
rm -rf "$profile"
python3 .ci/check-screenshot.py "$shot"

echo "== README: the set-up line, as written"
setup=$(python3 - <<'PY'
import re
text = open("README.md").read()
block = re.search(r"```sh\n(.*?)```", text, re.S).group(1)
print(block.strip().splitlines()[0])
PY
)
echo "\$ $setup"
root=$(mktemp -d)
rc=0
# A user's own install root, so that CI's cargo bin is not changed.
CARGO_INSTALL_ROOT="$root" PATH="$root/bin:$PATH" bash -c "$setup" || rc=$?
rm -rf "$root"
if [ "$rc" -ne 100 ]; then
  echo "README set-up line: exit $rc, the README says the demo exits 100" >&2
  exit 1
fi
test -s fixtures/demo/target/isolate/report.json
echo "README set-up line: installed, demo ran (exit 100 as the README says), report written"

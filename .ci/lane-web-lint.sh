#!/usr/bin/env bash
# The HTML report's script and style sheet (src/report/html/page.js and
# page.css, built into the binary): ESLint's and stylelint's recommended
# rules, at the versions lint/package-lock.json pins (`npm ci`).
set -euo pipefail
cd "$(dirname "$0")/.."

# ESLint 10 and stylelint 17 need Node.js 20.19 or later.
if ! command -v npm >/dev/null; then
  echo "== installing Node.js and npm (for the web lint)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
node --version

(cd lint && npm ci --no-audit --no-fund --loglevel=error)
# From the repository's root: ESLint's file patterns are relative to the
# directory it runs in.
lint/node_modules/.bin/eslint --config lint/eslint.config.js --max-warnings 0 \
  src/report/html/page.js
lint/node_modules/.bin/stylelint --config lint/stylelint.config.js --max-warnings 0 \
  src/report/html/page.css
echo "web lint: page.js and page.css are clean"

#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests, only when it is missing (never
# `playwright install`: Playwright drives this system browser through its executable path).
# axe-core comes from npm with the portal's other front-end packages (services/gateway).
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
fi
cd "$(dirname "$0")/../services/gateway"
if [ ! -d node_modules/axe-core ]; then
  npm ci --no-audit --no-fund
fi
/usr/bin/chromium --version

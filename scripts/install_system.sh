#!/usr/bin/env bash
# Debian packages some tests and tools need: chromium (headless browser test of the HTML
# report).  Installs only what is missing; never fails the setup when apt is unavailable,
# it prints what to install instead.
set -uo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "splitbrain setup: please install: apt-get install ${need[*]}" >&2; exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "splitbrain setup: please install: ${need[*]} (no apt-get here)" >&2; exit 0
fi
echo "splitbrain setup: installing ${need[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
  || echo "splitbrain setup: could not install ${need[*]}; the browser test will say so" >&2
exit 0

#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the browser test when it is missing, so a
# fresh machine (CI) needs nothing else. Uses sudo when not running as root.
set -euo pipefail
[[ -x /usr/bin/chromium ]] && exit 0
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends chromium

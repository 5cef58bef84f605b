#!/usr/bin/env bash
# Third-party peers the tests talk to, installed outside the checkout on first use:
#   - xmlsec1 (Debian package): signs and encrypts test SAML responses, and cross-checks
#     Roster's canonicalization and signature verdicts;
#   - a Python venv with signxml (a second, independent SAML signer), the SCIM
#     conformance checker scim2-tester with its runner scim2-cli, and standardwebhooks
#     (the Standard Webhooks library that checks the signatures of Roster's webhooks);
#   - Node packages under ROSTER_NODE (see the end of this file).
# Source it (`. scripts/deps.sh`) from a script that runs with `set -euo pipefail`: it
# exports ROSTER_VENV and ROSTER_PYTHON, and leaves the caller's shell options alone.

export ROSTER_VENV="${ROSTER_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-venv}"
export ROSTER_PYTHON="$ROSTER_VENV/bin/python"

apt_install() {
  local sudo=""
  [ "$(id -u)" = "0" ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null 2>&1 || {
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
  }
}

command -v xmlsec1 >/dev/null || apt_install xmlsec1 || return 1
# Debian's Chromium (and its WebDriver) for the console's browser tests; the tests drive
# it with playwright-core, which is pointed at it and downloads no browser of its own.
command -v chromium >/dev/null || apt_install chromium chromium-driver || return 1

python_deps=("scim2-cli==0.6.0" "scim2-tester==0.5.2" "signxml==5.2.0" "standardwebhooks==1.3.0")
stamp="$ROSTER_VENV/.roster-deps"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${python_deps[*]}" ]; then
  python3 -m venv "$ROSTER_VENV" 2>/dev/null || {
    apt_install python3-venv
    python3 -m venv "$ROSTER_VENV"
  } || return 1
  "$ROSTER_VENV/bin/pip" install --quiet --disable-pip-version-check "${python_deps[@]}" || return 1
  echo "${python_deps[*]}" >"$stamp"
fi

# Node peers, installed with npm outside the checkout: the `oidc-provider` package, a
# certified OpenID Provider that the OIDC sign-in tests sign in through; `openid-client`,
# a certified relying party that signs in through Roster's own provider; and for the
# console's browser tests `playwright-core` (drives Chromium) and `axe-core` (checks
# accessibility).
export ROSTER_NODE="${ROSTER_NODE:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-node}"
node_deps=("oidc-provider@9.13.3" "openid-client@6.9.1" "playwright-core@1.65.2" "axe-core@4.14.1")
node_stamp="$ROSTER_NODE/.roster-deps"
if [ ! -f "$node_stamp" ] || [ "$(cat "$node_stamp")" != "${node_deps[*]}" ]; then
  command -v npm >/dev/null || apt_install nodejs npm || return 1
  mkdir -p "$ROSTER_NODE"
  # From nothing: an install that was cut off leaves packages half unpacked, which a
  # later npm install takes as installed.
  rm -rf "$ROSTER_NODE/node_modules" "$ROSTER_NODE/package-lock.json"
  [ -f "$ROSTER_NODE/package.json" ] || echo '{"private": true}' >"$ROSTER_NODE/package.json"
  npm install --prefix "$ROSTER_NODE" --no-audit --no-fund --loglevel=error "${node_deps[@]}" >/dev/null || return 1
  echo "${node_deps[*]}" >"$node_stamp"
fi

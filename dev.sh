#!/usr/bin/env bash
# peerd's one entry point for a new machine (Debian 12):
#   ./dev.sh run    install what is missing, build, run peerd on 127.0.0.1:8080
#   ./dev.sh test   install what is missing, build (plain and ASan+UBSan), run every test on both
#   ./dev.sh build  install and build only
#   ./dev.sh install PKG...   install those of Debian's packages that are missing
# Extra arguments after `run` go to peerd.
set -euo pipefail
cd "$(dirname "$0")"

# What building and running needs; what the tests need on top.
PACKAGES=(gcc pkg-config python3 meson ninja-build zlib1g-dev libmicrohttpd-dev libgnutls28-dev libcjson-dev libgmp-dev
          libcurl4-openssl-dev libcriterion-dev libnetfilter-queue-dev erlang-base)
TEST_PACKAGES=(curl openssl openssh-server openssh-client iproute2 iptables jq prometheus)

# Installs whichever of the named packages are missing. node and npm count as
# present when the commands are (they may not come from Debian's packages).
# RECOMMENDS=1 takes the packages' recommendations too.
install() {
    local missing=()
    for p in "$@"; do
        case "$p" in nodejs|npm) command -v "${p/nodejs/node}" >/dev/null && continue ;; esac
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "dev.sh: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    local recommends=--no-install-recommends
    [ "${RECOMMENDS:-0}" = 1 ] && recommends=--install-recommends
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $recommends "${missing[@]}" >/dev/null
}

# The container tests: Debian's podman with what it recommends (its network
# plugins, iptables), runc, podman-compose, and debootstrap for the base image.
container_deps() { RECOMMENDS=1 install podman runc podman-compose debootstrap; }

deps() { install "${PACKAGES[@]}" "$@"; }

# What the browser test needs: Debian's Chromium, and playwright-core and
# axe-core from npm.
browser_deps() {
    install chromium nodejs npm
    [ -d tests/browser/node_modules/playwright-core ] && [ -d tests/browser/node_modules/axe-core ] ||
        (cd tests/browser && npm install --silent --no-audit --no-fund >/dev/null)
    # The contract check: Stoplight Prism's validating proxy (tests/contract).
    [ -x tests/contract/node_modules/.bin/prism ] ||
        (cd tests/contract && npm install --silent --no-audit --no-fund >/dev/null)
}

build() {
    [ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
    ninja -C build >/dev/null
}

# The same code with AddressSanitizer and UndefinedBehaviorSanitizer: every
# test runs against it too, and a report from peerd fails the test.
build_sanitized() {
    [ -f build-asan/build.ninja ] || meson setup build-asan --buildtype=debug \
        -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
    ninja -C build-asan >/dev/null
}

cmd="${1:-run}"
[ $# -gt 0 ] && shift
case "$cmd" in
    run) deps; build; exec ./build/peerd --listen 127.0.0.1:8080 "$@" ;;
    test) deps "${TEST_PACKAGES[@]}"; browser_deps; container_deps; build; build_sanitized; exec tests/run build build-asan ;;
    build) deps; build ;;
    install) install "$@" ;;
    *) echo "usage: ./dev.sh run|test|build|install PKG..." >&2; exit 2 ;;
esac

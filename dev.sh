#!/usr/bin/env bash
# lvstop's one entry point for people and CI, run as root on Debian 12 from a clone:
#   ./dev.sh lab    install what is missing, then boot the UML lab and show the dashboard on it
#   ./dev.sh test   install what is missing (plus test tools), then run every check and test
# Anything after the verb is passed on (`./dev.sh lab run -- ipvsadm -Ln`, `./dev.sh test -k vrrp`).
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(python3 python3-venv user-mode-linux keepalived ipvsadm kmod iproute2 tcpdump tmux procps libcap2-bin prometheus prometheus-node-exporter openssh-server sudo)

need_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "dev.sh: missing Debian packages (${need_apt[*]}); run as root or install them" >&2
        exit 1
    fi
    echo "dev.sh: installing ${need_apt[*]}" >&2
    # Debian starts a package's daemon on install (prometheus would listen on *:9090): tests
    # start their own, inside the lab. A policy-rc.d that refuses every start while apt runs
    # (only if there is none: an existing one is left as it is), removed afterwards whatever
    # happens.
    own_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        own_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        printf '#!/bin/sh\n# dev.sh: no daemon starts while it installs packages\nexit 101\n' \
            > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    if [ -n "$own_policy" ]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
    # ... nor at the next boot: disable the daemons this run installed, and stop them.
    for svc in prometheus prometheus-node-exporter; do
        [[ " ${need_apt[*]} " == *" $svc "* ]] || continue
        if [ -d /run/systemd/system ]; then
            systemctl disable --now "$svc" >/dev/null 2>&1 || true
        else
            update-rc.d "$svc" disable >/dev/null 2>&1 || true
            service "$svc" stop >/dev/null 2>&1 || true
        fi
    done
fi

# Debian's python3: the same interpreter is visible inside the UML lab through hostfs.
if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv .venv
fi
stamp=.venv/.lvstop-installed
extras=""
[ "${1:-}" = test ] && extras="[test]"
hash="$(sha256sum pyproject.toml | cut -d' ' -f1)"
want="$hash$extras"
# An install with the test extras also serves `lab`.
if [ ! -f "$stamp" ] || { ! grep -qxF "$want" "$stamp" && ! grep -qxF "$hash[test]" "$stamp"; }; then
    .venv/bin/pip install -q --upgrade pip >/dev/null
    .venv/bin/pip install -q -e ".$extras"
    echo "$want" > "$stamp"
fi

verb="${1:-}"
shift || true
case "$verb" in
    lab)
        exec .venv/bin/lvstop lab "$@"
        ;;
    test)
        # the gate (pyproject.toml): ruff with the complexity cap; mypy strict on lvstop/,
        # tests/, bench/ and scripts/; the import contracts (layers, no Textual)
        .venv/bin/ruff check lvstop tests bench scripts
        .venv/bin/ruff format --check --quiet lvstop tests bench scripts || { echo "dev.sh: run .venv/bin/ruff format lvstop tests bench scripts" >&2; exit 1; }
        .venv/bin/mypy
        .venv/bin/lint-imports
        # dev.sh installed user-mode-linux above: a lab that cannot boot is a failure, not a skip.
        LVSTOP_LAB_REQUIRED=1 exec .venv/bin/python -m pytest "$@"
        ;;
    *)
        echo "usage: ./dev.sh lab [ARGS...] | ./dev.sh test [PYTEST ARGS...]" >&2
        exit 2
        ;;
esac

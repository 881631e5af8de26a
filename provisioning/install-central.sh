#!/usr/bin/env bash
# Install SCC central on a fresh Debian box: the CA and broker (Debian's mosquitto on the configuration
# 'scc-provision init' generates), the database, and the web, ingest, alerts and live-view relay services.
#
#   sudo provisioning/install-central.sh --broker-host scc.sumselprov.go.id 203.0.113.10
#
# Safe to run again (upgrades): an existing CA, central.toml or database is kept, never regenerated.
# Run with --help for the options; --prefix DIR --no-systemd installs into a throwaway tree for tests.
set -euo pipefail

readonly SCRIPT_NAME="install-central"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly REPO_DIR="${SCRIPT_DIR%/*}"

PREFIX="${DESTDIR:-}"
SOURCE="$REPO_DIR"
PYTHON="/usr/bin/python3"
SYSTEMD=1
APT=1
MIGRATE=1
PIP_ARGS=()
BROKER_HOSTS=()
BROKER_PORT=8883
WEB_BIND="127.0.0.1:8080"
SERVICE_USER="scc"

usage() {
    cat <<EOF
Usage: $0 [OPTIONS] --broker-host NAME [NAME...]

Install SCC central under /opt/scc with its configuration in /etc/scc: create the CA and broker
configuration (scc-provision init) into /etc/scc/pki, run mosquitto on it, write central.toml,
migrate the database and start scc-central-web, scc-central-ingest, scc-central-alerts and scc-central-live.

Options:
  --broker-host NAME...  DNS names / IP addresses the agents use to reach the broker (first one goes
                         into the bundles); required the first time, ignored once the CA exists
  --broker-port PORT     the broker's TLS port (default $BROKER_PORT)
  --web-bind ADDR:PORT   where gunicorn listens (default $WEB_BIND; put a TLS reverse proxy in front)
  --source PATH          the SCC source tree or a built wheel to install (default: $REPO_DIR)
  --prefix DIR           install below DIR instead of / (also: DESTDIR=DIR); implies --no-apt, and the
                         scc user is neither created nor used
  --no-systemd           do not install, enable or start units (no systemd as PID 1)
  --no-apt               do not apt-get install missing Debian packages
  --no-migrate           do not create or upgrade the database schema
  --python PATH          the Python that makes the venv (default: $PYTHON)
  --pip-arg ARG          extra argument for 'pip install' (repeatable)
  -h, --help             this text
EOF
}

# shellcheck source=install-common.sh source-path=SCRIPTDIR
source "$SCRIPT_DIR/install-common.sh"

while (($#)); do
    case "$1" in
        --broker-host)
            shift
            while (($#)) && [[ "$1" != -* ]]; do BROKER_HOSTS+=("$1"); shift; done
            ;;
        --broker-host=*) BROKER_HOSTS+=("${1#*=}"); shift ;;
        --broker-port) BROKER_PORT="${2:?--broker-port needs a number}"; shift 2 ;;
        --broker-port=*) BROKER_PORT="${1#*=}"; shift ;;
        --web-bind) WEB_BIND="${2:?--web-bind needs ADDR:PORT}"; shift 2 ;;
        --web-bind=*) WEB_BIND="${1#*=}"; shift ;;
        --source) SOURCE="${2:?--source needs a path}"; shift 2 ;;
        --source=*) SOURCE="${1#*=}"; shift ;;
        --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
        --prefix=*) PREFIX="${1#*=}"; shift ;;
        --no-systemd) SYSTEMD=0; shift ;;
        --no-apt) APT=0; shift ;;
        --no-migrate) MIGRATE=0; shift ;;
        --python) PYTHON="${2:?--python needs a path}"; shift 2 ;;
        --python=*) PYTHON="${1#*=}"; shift ;;
        --pip-arg) PIP_ARGS+=("${2:?--pip-arg needs a value}"); shift 2 ;;
        --pip-arg=*) PIP_ARGS+=("${1#*=}"); shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument $1" ;;
    esac
done

[[ "$BROKER_PORT" =~ ^[0-9]+$ ]] || die "--broker-port must be a number, got '$BROKER_PORT'"
[[ -e "$SOURCE" ]] || die "source '$SOURCE' not found"

resolve_prefix

readonly OPT_DIR="$PREFIX/opt/scc"
readonly VENV="$OPT_DIR/venv"
readonly ETC_DIR="$PREFIX/etc/scc"
readonly PKI_DIR="$ETC_DIR/pki"
readonly STATE_DIR="$PREFIX/var/lib/scc"
readonly MOSQUITTO_DIR="$PREFIX/var/lib/mosquitto"
readonly UNIT_DIR="$PREFIX/etc/systemd/system"
readonly CONFIG="$ETC_DIR/central.toml"
readonly UNITS=(scc-central-ingest.service scc-central-web.service scc-central-alerts.service scc-central-live.service)

step_packages() {
    local missing=()
    "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
    command -v mosquitto >/dev/null || [[ -x /usr/sbin/mosquitto ]] || missing+=(mosquitto)
    command -v mosquitto_sub >/dev/null || missing+=(mosquitto-clients)
    install_debian_packages ${missing[@]+"${missing[@]}"}
}

step_venv() {
    install_scc central
    local tool
    for tool in scc-central scc-provision; do
        [[ -x "$VENV/bin/$tool" ]] || die "pip did not install $tool into $VENV/bin"
    done
    "$VENV/bin/python" -c 'import gunicorn, flask' || die "the [central] extra (gunicorn, flask) is missing"
}

step_pki() {
    mkdir -p "$ETC_DIR" "$STATE_DIR" "$MOSQUITTO_DIR"
    # The broker drops to the mosquitto user and then re-reads files under /etc/scc/pki: it must traverse.
    chmod 0755 "$ETC_DIR"
    if [[ -f "$PKI_DIR/registry.json" ]]; then
        say "keeping the existing CA in $PKI_DIR (revoke and reissue with scc-provision; see docs/operations.md)"
        # An upgrade: issue the certificates central now needs (one per connection) and regenerate the
        # broker configuration for this release's settings; step_start restarts the broker on it.
        "$VENV/bin/scc-provision" central --dir "$PKI_DIR"
        "$VENV/bin/scc-provision" broker-config --dir "$PKI_DIR" --persistence-dir "$MOSQUITTO_DIR"
        return 0
    fi
    ((${#BROKER_HOSTS[@]})) || die "no CA yet: give --broker-host NAME... (the names agents use for the broker)"
    say "creating the CA and broker configuration in $PKI_DIR for ${BROKER_HOSTS[*]}:$BROKER_PORT"
    "$VENV/bin/scc-provision" init --dir "$PKI_DIR" --broker-host "${BROKER_HOSTS[@]}" \
        --port "$BROKER_PORT" --persistence-dir "$MOSQUITTO_DIR"
}

step_central_key() {
    # Central's services run as scc and must read central's client keys; everything else there stays root's.
    [[ -n "$SERVICE_USER" ]] || return 0
    # central.key (ingest), central-commands.key (the web), central-alerts.key, central-ingest-K.key.
    chown "$SERVICE_USER:$SERVICE_USER" "$PKI_DIR"/clients/central*.key
    chmod 0600 "$PKI_DIR"/clients/central*.key
    chmod 0755 "$PKI_DIR" "$PKI_DIR/clients"
}

step_config() {
    if [[ -f "$CONFIG" ]]; then
        say "keeping the existing $CONFIG"
        return 0
    fi
    say "writing $CONFIG"
    # Paths are the ones the services see at run time, i.e. without the --prefix.
    local etc="${ETC_DIR#"$PREFIX"}" state="${STATE_DIR#"$PREFIX"}"
    local host="127.0.0.1"
    umask 027
    cat >"$CONFIG" <<EOF
# SCC central configuration, written by install-central.sh; see central/config.py for every key.
state_dir = "$state"

[database]
# PostgreSQL for more than one box or heavy load: see docs/scaling.md.
url = "sqlite:///$state/central.db"

[broker]
host = "$host"
port = $BROKER_PORT
ca = "$etc/pki/ca.crt"
cert = "$etc/pki/clients/central.crt"
key = "$etc/pki/clients/central.key"

[pki]
dir = "$etc/pki"

[web]
# gunicorn's address; put a TLS reverse proxy in front for anything beyond this host.
bind = "$WEB_BIND"
EOF
    umask 022
    if [[ -n "$SERVICE_USER" ]]; then
        chown "root:$SERVICE_USER" "$CONFIG"
        chmod 0640 "$CONFIG"
    fi
}

step_state() {
    [[ -n "$SERVICE_USER" ]] || return 0
    chown "$SERVICE_USER:$SERVICE_USER" "$STATE_DIR"
    chmod 0750 "$STATE_DIR"
}

step_migrate() {
    ((MIGRATE)) || return 0
    say "creating or upgrading the database schema"
    local config="$CONFIG"
    if [[ -n "$PREFIX" ]]; then
        # central.toml names the run-time paths; a throwaway install must migrate the database in its tree.
        config="$STATE_DIR/.central-prefix.toml"
        sed -e "s#\"/var/lib/scc#\"$PREFIX/var/lib/scc#g" -e "s#\"/etc/scc#\"$PREFIX/etc/scc#g" \
            -e "s#sqlite:////var/lib/scc#sqlite:///$PREFIX/var/lib/scc#" "$CONFIG" >"$config"
    fi
    as_service_user "$VENV/bin/scc-central" --config "$config" db upgrade
}

step_units() {
    local unit dropin_dir="$UNIT_DIR/mosquitto.service.d"
    mkdir -p "$UNIT_DIR" "$dropin_dir"
    for unit in "${UNITS[@]}"; do
        install -m 0644 "$REPO_DIR/systemd/$unit" "$UNIT_DIR/$unit"
    done
    # The drop-in names /etc/scc/pki; the runtime path is the same unless --prefix relocates it.
    sed "s#/etc/scc/pki#${PKI_DIR#"$PREFIX"}#g" "$REPO_DIR/systemd/mosquitto.service.d/scc.conf" \
        >"$dropin_dir/scc.conf"
    chmod 0644 "$dropin_dir/scc.conf"
    say "installed ${UNITS[*]} and the mosquitto drop-in into $UNIT_DIR"
    ((SYSTEMD)) || { say "--no-systemd: not enabling or starting any unit"; return 0; }
    [[ -d /run/systemd/system ]] || die "systemd is not running on this box; rerun with --no-systemd"
    systemctl daemon-reload
    systemctl enable mosquitto.service "${UNITS[@]}" >/dev/null
    systemctl restart mosquitto.service "${UNITS[@]}"
    say "started mosquitto and ${UNITS[*]} (logs: journalctl -u mosquitto -u 'scc-central-*' -f)"
}

step_check() {
    ((SYSTEMD)) || return 0
    local unit failed=0
    for unit in mosquitto.service "${UNITS[@]}"; do
        if systemctl is-active --quiet "$unit"; then
            say "$unit is running"
        else
            say "$unit is NOT running: journalctl -u $unit -n 50"
            failed=1
        fi
    done
    return "$failed"
}

main() {
    step_packages
    step_user
    step_venv
    step_pki
    step_central_key
    step_config
    step_state
    step_migrate
    step_units
    step_check
    say "done. Next: create an operator (scc-central user add ...) and issue agent bundles:"
    say "  ${VENV#"$PREFIX"}/bin/scc-provision agent --dir ${PKI_DIR#"$PREFIX"} --regency 16.71 --name agent-palembang"
}

main

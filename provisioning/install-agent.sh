#!/usr/bin/env bash
# Install the SCC edge agent on a fresh Debian box, enrol it with its bundle, start it, and check it.
#
#   sudo provisioning/install-agent.sh /root/agent-palembang.tar.gz
#
# Safe to run again (upgrade, re-enrolment): every step checks what is already there.
# Run with --help for the options; --prefix DIR --no-systemd installs into a throwaway tree for tests.
set -euo pipefail

readonly SCRIPT_NAME="install-agent"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly REPO_DIR="${SCRIPT_DIR%/*}"

PREFIX="${DESTDIR:-}"
SOURCE="$REPO_DIR"
PYTHON="/usr/bin/python3"
SYSTEMD=1
APT=1
DOCTOR=1
FORCE_ENROLL=0
PIP_ARGS=()
BUNDLE=""
SERVICE_USER="scc"

usage() {
    cat <<EOF
Usage: $0 [OPTIONS] BUNDLE

Install the SCC edge agent under /opt/scc, enrol BUNDLE (the .tar.gz from 'scc-provision agent')
into /etc/scc, install and start scc-agent.service, and run 'scc-agent doctor'.

Options:
  --source PATH     the SCC source tree or a built wheel to install (default: $REPO_DIR)
  --prefix DIR      install below DIR instead of / (also: DESTDIR=DIR); implies --no-apt, and the
                    scc user is neither created nor used
  --no-systemd      do not install, enable or start the systemd unit (no systemd as PID 1)
  --no-apt          do not apt-get install missing Debian packages
  --no-doctor       skip 'scc-agent doctor' at the end
  --force-enroll    replace an existing /etc/scc/agent.toml with the bundle's (a new name or broker);
                    without it an existing agent.toml, with its cameras and networks, is kept
  --python PATH     the Python that makes the venv (default: $PYTHON)
  --pip-arg ARG     extra argument for 'pip install' (repeatable), e.g. --pip-arg=--no-index
  -h, --help        this text
EOF
}

# shellcheck source=install-common.sh source-path=SCRIPTDIR
source "$SCRIPT_DIR/install-common.sh"

while (($#)); do
    case "$1" in
        --source) SOURCE="${2:?--source needs a path}"; shift 2 ;;
        --source=*) SOURCE="${1#*=}"; shift ;;
        --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
        --prefix=*) PREFIX="${1#*=}"; shift ;;
        --no-systemd) SYSTEMD=0; shift ;;
        --no-apt) APT=0; shift ;;
        --no-doctor) DOCTOR=0; shift ;;
        --force-enroll) FORCE_ENROLL=1; shift ;;
        --python) PYTHON="${2:?--python needs a path}"; shift 2 ;;
        --python=*) PYTHON="${1#*=}"; shift ;;
        --pip-arg) PIP_ARGS+=("${2:?--pip-arg needs a value}"); shift 2 ;;
        --pip-arg=*) PIP_ARGS+=("${1#*=}"); shift ;;
        -h | --help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option $1" ;;
        *) [[ -z "$BUNDLE" ]] || die "only one BUNDLE, got '$BUNDLE' and '$1'"; BUNDLE="$1"; shift ;;
    esac
done

[[ -n "$BUNDLE" ]] || { usage >&2; die "no BUNDLE given"; }
[[ -f "$BUNDLE" ]] || die "bundle '$BUNDLE' not found"
BUNDLE="$(cd "$(dirname "$BUNDLE")" && pwd)/$(basename "$BUNDLE")"
[[ -e "$SOURCE" ]] || die "source '$SOURCE' not found"

resolve_prefix

readonly OPT_DIR="$PREFIX/opt/scc"
readonly VENV="$OPT_DIR/venv"
readonly ETC_DIR="$PREFIX/etc/scc"
# agent.toml's default [agent] state_dir, scc-agent.service's StateDirectory.
readonly AGENT_STATE_DIR="$PREFIX/var/lib/scc-agent"
readonly UNIT_DIR="$PREFIX/etc/systemd/system"
readonly UNIT="scc-agent.service"

step_packages() {
    local missing=()
    "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
    install_debian_packages ${missing[@]+"${missing[@]}"}
}

step_venv() {
    install_scc agent
    [[ -x "$VENV/bin/scc-agent" ]] || die "pip did not install the scc-agent command into $VENV/bin"
}

step_enroll() {
    say "enrolling $(basename "$BUNDLE") into $ETC_DIR"
    mkdir -p "$ETC_DIR" "$AGENT_STATE_DIR"
    local force=()
    if ((FORCE_ENROLL)); then force=(--force); fi
    # Without --force, enroll keeps an existing agent.toml and leaves the bundle's as agent.toml.bundle.
    "$VENV/bin/scc-agent" enroll "$BUNDLE" --etc "$ETC_DIR" ${force[@]+"${force[@]}"}
    if [[ -n "$SERVICE_USER" ]]; then
        # root owns the agent's files, the agent may read them (and its key), nobody else may. Only
        # the bundle's files: on the central box $ETC_DIR also holds the broker's PKI, which
        # Mosquitto must go on reading.
        local member path
        while IFS= read -r member; do
            for path in "$ETC_DIR/$member" "$ETC_DIR/$member.bundle"; do
                [[ -f "$path" ]] || continue
                chown "root:$SERVICE_USER" "$path"
                chmod g+r,g-w,o-rwx "$path"
            done
        done < <(tar -tzf "$BUNDLE")
        chmod 0755 "$ETC_DIR"
        chown "$SERVICE_USER:$SERVICE_USER" "$AGENT_STATE_DIR"
        chmod 0750 "$AGENT_STATE_DIR"
    fi
}

step_unit() {
    local source_unit="$REPO_DIR/systemd/$UNIT"
    [[ -f "$source_unit" ]] || die "unit file $source_unit not found"
    mkdir -p "$UNIT_DIR"
    install -m 0644 "$source_unit" "$UNIT_DIR/$UNIT"
    say "installed $UNIT_DIR/$UNIT"
    ((SYSTEMD)) || { say "--no-systemd: not enabling or starting $UNIT"; return 0; }
    [[ -d /run/systemd/system ]] || die "systemd is not running on this box; rerun with --no-systemd"
    systemctl daemon-reload
    systemctl enable "$UNIT" >/dev/null
    # restart, not start: a rerun after an upgrade or a re-enrolment must pick up the new code and files.
    systemctl restart "$UNIT"
    say "started $UNIT (logs: journalctl -u ${UNIT%.service} -f)"
}

step_doctor() {
    ((DOCTOR)) || return 0
    say "running scc-agent doctor"
    if as_service_user "$VENV/bin/scc-agent" --config "$ETC_DIR/agent.toml" doctor; then
        say "doctor: all checks passed"
    else
        say "doctor found problems (above); the agent is installed and keeps retrying on its own"
        return 3
    fi
}

main() {
    step_packages
    step_user
    step_venv
    step_enroll
    step_unit
    local status=0
    step_doctor || status=$?
    say "done: agent installed in $OPT_DIR, configuration in $ETC_DIR"
    return "$status"
}

main

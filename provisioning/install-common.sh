# shellcheck shell=bash
# Steps install-agent.sh and install-central.sh share, sourced by both; the functions read these when called:
# SCRIPT_NAME, PREFIX, PYTHON, APT, SERVICE_USER, OPT_DIR, VENV, SOURCE, REPO_DIR, PIP_ARGS.

say() { printf '%s: %s\n' "$SCRIPT_NAME" "$*"; }
die() { printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }

# resolve_prefix: an absolute $PREFIX for a trial install, else insist on root.
resolve_prefix() {
    if [[ -n "$PREFIX" ]]; then
        mkdir -p "$PREFIX"
        PREFIX="$(cd "$PREFIX" && pwd)"
        APT=0
        # A throwaway tree must not touch the host's users or its systemd.
        SERVICE_USER=""
    elif [[ "$(id -u)" != 0 ]]; then
        die "run as root (sudo $0 ...), or use --prefix DIR for an unprivileged trial install"
    fi
}

as_service_user() {
    # The checks must see the files the way the service will: as scc, not as root.
    if [[ -n "$SERVICE_USER" ]]; then
        runuser -u "$SERVICE_USER" -- "$@"
    else
        "$@"
    fi
}

# install_debian_packages PACKAGE...: install what is missing, or say what to install with --no-apt.
install_debian_packages() {
    (($#)) || return 0
    ((APT)) || die "missing Debian packages: $* (install them, or drop --no-apt)"
    say "installing Debian packages: $*"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

step_user() {
    [[ -n "$SERVICE_USER" ]] || return 0
    if getent passwd "$SERVICE_USER" >/dev/null; then
        say "user $SERVICE_USER exists"
    else
        say "creating system user $SERVICE_USER"
        useradd --system --user-group --home-dir /var/lib/scc --no-create-home \
            --shell /usr/sbin/nologin --comment "SCC services" "$SERVICE_USER"
    fi
}

# install_scc EXTRA: the venv under $OPT_DIR with scc[EXTRA] from $SOURCE (a source tree or a wheel).
install_scc() {
    local extra="$1"
    if [[ -x "$VENV/bin/python" ]]; then
        say "reusing the virtualenv $VENV"
    else
        say "creating the virtualenv $VENV"
        mkdir -p "$OPT_DIR"
        "$PYTHON" -m venv "$VENV"
    fi
    local target
    # A source tree installs with its extra; a wheel file takes the extra after its path.
    if [[ -d "$SOURCE" ]]; then
        target="$(cd "$SOURCE" && pwd)[$extra]"
    else
        target="$(cd "$(dirname "$SOURCE")" && pwd)/$(basename "$SOURCE")[$extra]"
    fi
    say "installing scc[$extra] from $SOURCE (pip output in $OPT_DIR/pip.log)"
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade \
        ${PIP_ARGS[@]+"${PIP_ARGS[@]}"} "$target" >"$OPT_DIR/pip.log" 2>&1; then
        tail -n 20 "$OPT_DIR/pip.log" >&2
        die "pip install failed; the full log is $OPT_DIR/pip.log"
    fi
    if [[ -d "$REPO_DIR/docs" ]]; then
        mkdir -p "$OPT_DIR/docs"
        cp -r "$REPO_DIR/docs/." "$OPT_DIR/docs/"
    fi
}

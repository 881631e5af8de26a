# SCC: `make demo` runs the whole system, `make test` passes the tests. Both bootstrap themselves.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NPM_DIR := .cache/npm
# Debian's Python, because PyGObject (GStreamer's RTSP server) comes from Debian's python3-gi.
SYSTEM_PYTHON ?= /usr/bin/python3
APT_PACKAGES := python3-venv python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 \
	gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
	gstreamer1.0-plugins-ugly mosquitto mosquitto-clients chromium iproute2 wrk poppler-utils systemd shellcheck nginx-light
APT_STAMP := .cache/apt.stamp

.PHONY: all deps test lint bench soak demo demo-check clean

all: test

$(APT_STAMP): Makefile
	@mkdir -p .cache
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# npm comes with Node.js where Node was installed from elsewhere; Debian's npm would conflict with it.
	@command -v npm >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm; }
	@touch $@

$(STAMP): pyproject.toml $(APT_STAMP)
	@test -x $(PY) || $(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

$(NPM_DIR)/.installed: $(APT_STAMP) Makefile
	@mkdir -p $(NPM_DIR)
	cd $(NPM_DIR) && ( [ -f package.json ] || echo '{"private":true}' > package.json ) && \
		npm install --silent --no-audit --no-fund @asyncapi/specs@6 @asyncapi/parser@3 axe-core@4
	@touch $@

deps: $(STAMP) $(NPM_DIR)/.installed

test: deps
	$(PY) -m pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy edge_agent central shared provisioning simulator demo benchmarks
	shellcheck -x provisioning/*.sh

bench: deps
	$(PY) -m benchmarks

# The whole province under faults for SOAK_ARGS (default: an hour, SQLite; memory needs the hour); figures to docs/performance.md.
SOAK_ARGS ?= --duration 3600 --write
soak: deps
	$(PY) -m benchmarks.soak $(SOAK_ARGS)

demo: deps
	$(PY) -m demo

# Start the demo, wait until the web shows 3 of 17 regencies with live cameras, stop it.
demo-check: deps
	$(PY) -m demo --check

clean:
	rm -rf $(VENV) .cache build *.egg-info

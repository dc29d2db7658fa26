# Flowday: the two commands are `make dev` and `make test` (README.md).

PYTHON ?= python3
VENV := .venv
BUILD_VENV := .venv-build
PORT ?= 3000
# Where cargo puts its builds (CARGO_TARGET_DIR when set).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: dev test contract openapi build venv build-venv fmt lint jwt-key-set jwt-public-keys bench requirements clean-venv

## Python tools, pinned (infra/requirements.txt); recreated when the pins change.
$(VENV)/.installed: infra/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	touch $@

venv: $(VENV)/.installed

$(BUILD_VENV)/.installed: infra/requirements-build.txt
	$(PYTHON) -m venv $(BUILD_VENV)
	$(BUILD_VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements-build.txt
	touch $@

build-venv: $(BUILD_VENV)/.installed

## The local stack: emulator + resources from template.yaml + gateway on 127.0.0.1:$(PORT).
dev: venv
	cargo build -p flowday-local
	PORT=$(PORT) $(TARGET_DIR)/debug/flowday-local dev

## Everything CI checks: format, lints, every test (against the emulator), the template, and the
## contract test (schemathesis over the OpenAPI document, against a local stack).
test: venv
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --workspace
	$(VENV)/bin/cfn-lint template.yaml
	$(MAKE) contract

## schemathesis over docs/openapi.json against a local stack of its own, with a signed-in user.
CONTRACT_SECONDS ?= 180
contract: venv
	cargo build -p flowday-local
	$(TARGET_DIR)/debug/flowday-local contract $(CONTRACT_SECONDS)

## docs/openapi.json, generated from the code (a test fails when it is not current).
openapi:
	cargo run --quiet -p flowday-local -- openapi > docs/openapi.json

fmt:
	cargo fmt --all

## Lambda artifacts with SAM (cargo-lambda cross-compiles with zig; no Docker, no AWS account).
build: build-venv
	PATH="$(CURDIR)/$(BUILD_VENV)/bin:$$PATH" sam validate --lint --region us-east-1
	PATH="$(CURDIR)/$(BUILD_VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam build --beta-features

## A new JWT signing key set, the value of JwtKeysSecret in a deployed stack.
jwt-key-set:
	@cargo run --quiet -p flowday-local -- jwt-key-set

## The public keys (JWKS) of the key set on stdin, the value of JwtPublicKeysSecret.
jwt-public-keys:
	@cargo run --quiet -p flowday-local -- jwt-public-keys

## Cold start, peak memory and login latency of the release binaries against the emulator.
## The function binaries come from the registry (infra/local/src/functions.rs).
bench: venv
	cargo build --release -p flowday-local
	cargo build --release $$($(TARGET_DIR)/release/flowday-local functions | sed 's/^/-p /')
	$(TARGET_DIR)/release/flowday-local bench

## Regenerate the pinned requirement files from the .in files.
requirements:
	rm -rf /tmp/flowday-req && $(PYTHON) -m venv /tmp/flowday-req
	/tmp/flowday-req/bin/pip install --quiet -r infra/requirements.in
	/tmp/flowday-req/bin/pip freeze > infra/requirements.txt
	rm -rf /tmp/flowday-req && $(PYTHON) -m venv /tmp/flowday-req
	/tmp/flowday-req/bin/pip install --quiet -r infra/requirements-build.in
	/tmp/flowday-req/bin/pip freeze > infra/requirements-build.txt
	rm -rf /tmp/flowday-req

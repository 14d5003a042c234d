# make test is the one test command: the README and .ci/run both call it.
GO ?= go
export CGO_ENABLED ?= 1
# RACE is the one build mode of make test: go vet compiles with it too, so
# vet's compile of every package is the one go test reuses (a plain go vet
# would compile everything a second time without -race).
RACE ?= -race
# The race detector sleeps a second before each test binary exits (to catch
# races in goroutines still running); the tests stop what they start, and
# forty binaries would wait forty seconds.
export GORACE ?= atexit_sleep_ms=0
TEST_LDFLAGS ?= -ldflags=-s\ -w
TESTBIN ?= bin/test

.PHONY: test setup packages check deps warm browser services node npm tools file build image-binary demo bench fuzz

# test prepares in parallel (setup, under make -j): the Debian packages
# download and install while the Go side downloads modules, vets (which
# compiles every package in the test's mode), and builds the static
# binaries: the release binary and the Kubernetes 1.29 checker that two
# tests build for themselves, then helm and kustomize. Those four share one
# build mode (CGO_ENABLED=0, -trimpath), so under make test they build one
# after another (STATIC_CHAIN), and the standard library and the packages
# helm and kustomize have in common compile once; side by side, each would
# compile its own copy. go test skips its vet: check ran every analyzer.
# Any step that fails under CI=true fails the run.
#
# The tests link forty-odd race binaries, about 85 CPU-seconds on 2 cores.
# go test keeps a copy of each in TESTBIN (-o), and before linking it
# compares the build ID it would produce with the copy's: a run after a
# change relinks only the binaries the change reaches, and a warm run none
# (-count=1 still runs every test; 139 s to 119 s wall on 2 cores). No two
# tested packages may share a last path element (their binaries would share
# a name). Without the DWARF tables (-w; stack traces and race reports come
# from the binary's own tables, which stay) and the symbol table (-s) the
# links that remain take a sixth less (a pass that only links: 60 s to 50 s).
#
# The tests: go test starts packages in the order named, so the longest
# come first (LONGEST, the end-to-end package ahead) and the many short
# ones fill the cores at the end; the tests that mostly wait (browsers,
# failovers, token expiry, timeouts) call t.Parallel, and -parallel 4 lets
# four such waits overlap.
LONGEST = ./cmd/internal/e2e ./config ./cmd/lcw-demo ./cmd/lcw-auth-proxy ./auth/session ./proxy/bootstrap ./internal/testenv ./auth/login
test:
	@$(MAKE) --no-print-directory -j4 -Oline setup STATIC_CHAIN=1
	$(GO) test $(RACE) -vet=off -count=1 -parallel 4 -timeout 30m $(TEST_LDFLAGS) -o $(TESTBIN)/ $(LONGEST) ./...

setup: packages check warm tools npm

# check: formatting and vet, fast enough to run before every commit.
check: deps
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(RACE) ./...

# quietly runs a command, showing its output only when it fails: the
# "go: downloading …" lines of a fresh machine are noise while all goes well.
quietly = out=$$($(1) 2>&1) || { status=$$?; printf '%s\n' "$$out"; exit $$status; }

deps:
	@echo "downloading Go modules"
	@$(call quietly,$(GO) mod download)
	@$(call quietly,cd config/testdata/k8s129 && GOWORK=off $(GO) mod download)

# warm builds what two tests build with their own go command, so that it
# happens here, beside the package installs, and the tests find it cached:
# the release binary as deploy/image/build.sh makes it (compiled only: the
# test links its own, with its version stamp), and config/testdata/k8s129's
# checker (k8s.io/api v0.29) as config's runK8s129 runs it, with go run,
# which keeps the linked checker in Go's cache (it reads no manifests here).
warm: deps
	@echo "compiling the release binary and the Kubernetes 1.29 checker for their tests"
	@$(call quietly,CGO_ENABLED=0 $(GO) list -trimpath -export ./cmd/lcw-auth-proxy >/dev/null) && \
	$(call quietly,cd config/testdata/k8s129 && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 $(GO) run -trimpath . </dev/null)

# npm installs Microsoft's chat code (cmd/internal/e2e/testdata/widget-interop,
# about 780 MB and two minutes cold) into the npm cache and bundles it as the
# widget tests do, beside the rest of setup: the tests then find both
# bundles ready instead of waiting for npm ci themselves. A later run finds
# the cache filled and does nothing.
INTEROP = cmd/internal/e2e/testdata/widget-interop
npm: node deps
	@echo "installing Microsoft's chat code from npm for the widget tests (once per lockfile)"
	@$(call quietly,$(GO) run ./internal/npmbundle/prepare $(INTEROP) build.mjs:microsoft.mjs build-ui.mjs:widget-ui.mjs)

# packages installs the Debian packages the tests need, in parallel with the
# rest of setup.
packages: browser services node file

# APT_INSTALL installs Debian packages (its arguments) quietly, without
# their Recommends (--no-install-recommends): nothing the tests use
# (chromium-sandbox, as they run Chromium with --no-sandbox; nodejs-doc;
# npm's node-tap with 35 packages of its own), and each package costs
# seconds to unpack on a small VM. nodejs's Recommends ca-certificates is
# named, as npm needs it. apt runs one
# install at a time, so the targets below that use it under make -j wait for
# each other on a lock; the package lists are fetched once for them all (not
# when they were fetched in the last hour).
APT_INSTALL = flock /tmp/lcw-auth-proxy-apt.lock sh -ec '\
	find /var/lib/apt/lists -maxdepth 1 -name \*_Packages\* -mmin -60 | grep -q . || apt-get update -qq; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$$@" >/dev/null' apt-install

# browser installs Debian's chromium-headless-shell for the real-browser
# tests, and chromium for the one test that needs the full browser (a
# user's "Block all cookies"), when missing (testenv.Browser says why two).
# Browser tests skip without them on a laptop, but fail under CI=true.
browser:
	@missing=; \
	[ -n "$$CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	[ -n "$$CHROMIUM_HEADLESS_SHELL" ] || command -v chromium-headless-shell >/dev/null 2>&1 || missing="$$missing chromium-headless-shell"; \
	[ -n "$$missing" ] || exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing for the browser tests"; \
		$(APT_INSTALL) $$missing || { [ "$$CI" != true ] || exit 1; }; \
	else \
		echo "missing$$missing: browser tests will skip or use what is there (install the packages to run them)"; \
		[ "$$CI" != true ] || exit 1; \
	fi

# node installs Debian's nodejs and npm when missing, for the widget interop
# test (cmd/internal/e2e): it installs Microsoft's chat SDK and widget code, and
# esbuild to bundle them, with npm ci from a committed lockfile. The test
# skips without them on a laptop, but fails under CI=true.
node:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		exit 0; \
	fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing nodejs and npm for the widget interop test"; \
		$(APT_INSTALL) nodejs npm ca-certificates || { [ "$$CI" != true ] || exit 1; }; \
	else \
		echo "node or npm not found: the widget interop test will skip (install the nodejs and npm packages to run it)"; \
		[ "$$CI" != true ] || exit 1; \
	fi

# services installs the Debian packages of the real servers tests start
# (redis-server for the session store, redis-sentinel for its failover
# test, nginx-light for forward-auth), and prometheus for its promtool
# (deploy/monitoring's alert rule tests), when
# missing. A policy-rc.d that exits 101 keeps the packages from starting
# their own services: the tests start theirs on free loopback ports, and
# none runs Prometheus itself (nor its recommended node exporter).
SERVICE_PKGS = redis-server:redis-server redis-sentinel:redis-sentinel nginx-light:nginx prometheus:promtool
services:
	@missing=; for p in $(SERVICE_PKGS); do \
		cmd=$${p#*:}; command -v $$cmd >/dev/null 2>&1 || [ -x /usr/sbin/$$cmd ] || missing="$$missing $${p%%:*}"; \
	done; \
	[ -n "$$missing" ] || exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing for the tests"; \
		had_policy=; [ -e /usr/sbin/policy-rc.d ] && had_policy=1; \
		[ -n "$$had_policy" ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }; \
		$(APT_INSTALL) $$missing; status=$$?; \
		[ -n "$$had_policy" ] || rm -f /usr/sbin/policy-rc.d; \
		[ $$status = 0 ] || [ "$$CI" != true ] || exit 1; \
	else \
		echo "missing$$missing: the tests that need them will skip (install the packages to run them)"; \
		[ "$$CI" != true ] || exit 1; \
	fi

# tools builds helm and kustomize for the manifest tests (config/helm_test.go,
# config/k8s_test.go) from the Go module proxy, the one source reachable here
# besides Debian and npm. Each version gets its own directory under TOOLS, so
# the few minutes of building happen once per machine, and a version bump
# builds anew; under make test they build beside the rest of setup. The
# tests find them through HELM and KUSTOMIZE; without them they skip on a
# laptop and fail under CI=true.
HELM_VERSION ?= v3.22.0
KUSTOMIZE_VERSION ?= v5.8.2
TOOLS ?= $(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin/lcw-tools
HELM ?= $(TOOLS)/helm-$(HELM_VERSION)/helm
KUSTOMIZE ?= $(TOOLS)/kustomize-$(KUSTOMIZE_VERSION)/kustomize
export HELM KUSTOMIZE

tools: $(HELM) $(KUSTOMIZE)

$(HELM):
	@echo "building helm $(HELM_VERSION) for the chart tests (once)"
	@$(call quietly,GOBIN=$(@D) GOFLAGS=-mod=mod CGO_ENABLED=0 $(GO) install -trimpath -ldflags=-s\ -w helm.sh/helm/v3/cmd/helm@$(HELM_VERSION))

$(KUSTOMIZE):
	@echo "building kustomize $(KUSTOMIZE_VERSION) for the kustomize tests (once)"
	@$(call quietly,GOBIN=$(@D) GOFLAGS=-mod=mod CGO_ENABLED=0 $(GO) install -trimpath -ldflags=-s\ -w sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION))

# STATIC_CHAIN (set by make test) orders the static builds, see test.
ifdef STATIC_CHAIN
$(HELM): | warm
$(KUSTOMIZE): | $(HELM)
endif

# file installs Debian's file(1) when missing: the image test
# (deploy/image/build_test.go) asks it whether the binary is static and
# stripped. The test skips without it on a laptop, but fails under CI=true.
file:
	@if command -v file >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing file for the image test"; \
		$(APT_INSTALL) file || { [ "$$CI" != true ] || exit 1; }; \
	else \
		echo "file not found: the image test will skip (install the file package to run it)"; \
		[ "$$CI" != true ] || exit 1; \
	fi

build:
	$(GO) build -o lcw-auth-proxy ./cmd/lcw-auth-proxy

# image-binary builds the binary exactly as the Dockerfile does (the same
# script), for a look at what the image ships: make image-binary VERSION=v0.1.0
VERSION ?= dev
image-binary:
	sh deploy/image/build.sh lcw-auth-proxy $(VERSION)

demo:
	$(GO) run ./cmd/lcw-demo

bench:
	bash bench/run.sh

# fuzz runs each fuzz target briefly; FUZZTIME=5m for a longer run.
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

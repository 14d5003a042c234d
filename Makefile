# make test is the one test command: the README and .ci/run both call it.
GO ?= go
export CGO_ENABLED ?= 1

.PHONY: test check deps browser services node tools file jaeger build image-binary demo bench fuzz

test: deps browser services node tools file jaeger check
	$(GO) test -race -count=1 -timeout 30m ./...

# check: formatting and vet, fast enough to run before every commit.
check:
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

deps:
	$(GO) mod download
	cd config/testdata/k8s129 && GOWORK=off $(GO) mod download

# browser installs Debian's chromium for the real-browser tests when missing.
# Browser tests skip without it on a laptop, but fail under CI=true.
browser:
	@if [ -n "$$CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then \
		exit 0; \
	fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || { [ "$$CI" != true ] || exit 1; }; \
	else \
		echo "chromium not found: browser tests will skip (install the chromium package to run them)"; \
		[ "$$CI" != true ] || exit 1; \
	fi

# node installs Debian's nodejs and npm when missing, for the widget interop
# test (cmd/internal/e2e): it installs Microsoft's chat SDK and widget code, and
# esbuild to bundle them, with npm ci from a committed lockfile. The test
# skips without them on a laptop, but fails under CI=true.
.PHONY: node
node:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		exit 0; \
	fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing nodejs and npm for the widget interop test"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null) || { [ "$$CI" != true ] || exit 1; }; \
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
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null); status=$$?; \
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
# builds anew. The tests find them through HELM and KUSTOMIZE; without them
# they skip on a laptop and fail under CI=true.
HELM_VERSION ?= v3.22.0
KUSTOMIZE_VERSION ?= v5.8.2
TOOLS ?= $(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin/lcw-tools
HELM ?= $(TOOLS)/helm-$(HELM_VERSION)/helm
KUSTOMIZE ?= $(TOOLS)/kustomize-$(KUSTOMIZE_VERSION)/kustomize
export HELM KUSTOMIZE

tools: $(HELM) $(KUSTOMIZE)

$(HELM):
	GOBIN=$(@D) GOFLAGS=-mod=mod CGO_ENABLED=0 $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(KUSTOMIZE):
	GOBIN=$(@D) GOFLAGS=-mod=mod CGO_ENABLED=0 $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

# file installs Debian's file(1) when missing: the image test
# (deploy/image/build_test.go) asks it whether the binary is static and
# stripped. The test skips without it on a laptop, but fails under CI=true.
file:
	@if command -v file >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing file for the image test"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq file >/dev/null) || { [ "$$CI" != true ] || exit 1; }; \
	else \
		echo "file not found: the image test will skip (install the file package to run it)"; \
		[ "$$CI" != true ] || exit 1; \
	fi

# jaeger builds, once, the Jaeger all-in-one that the tracing end-to-end
# test exports to (internal/testenv.StartJaeger finds it through $JAEGER),
# from the Go module proxy. `go install ...@version` refuses it (its go.mod
# has a replace directive), so it is built in a throwaway module with the
# same replace. Cold, it takes about 4 minutes on 2 idle cores; the cache then
# makes it free. Without it the test skips, but not under CI=true.
JAEGER_VERSION = v1.76.0
JAEGER_DIR ?= $(HOME)/.cache/lcw-auth-proxy/jaeger-$(JAEGER_VERSION)
export JAEGER ?= $(JAEGER_DIR)/jaeger
jaeger:
	@[ -x "$(JAEGER)" ] && exit 0; \
	echo "building Jaeger $(JAEGER_VERSION) for the tracing end-to-end test (once; several minutes)"; \
	src=$$(mktemp -d) && mkdir -p "$$(dirname "$(JAEGER)")" && \
	printf 'module jaegerbuild\n\ngo 1.26\n\nrequire github.com/jaegertracing/jaeger $(JAEGER_VERSION)\n\nreplace github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0\n' > $$src/go.mod && \
	(cd $$src && CGO_ENABLED=0 $(GO) build -mod=mod -trimpath -o "$(JAEGER).tmp" github.com/jaegertracing/jaeger/cmd/jaeger) && \
	mv "$(JAEGER).tmp" "$(JAEGER)"; status=$$?; rm -rf $$src; \
	[ $$status = 0 ] || { echo "jaeger build failed: the tracing end-to-end test will skip"; [ "$$CI" != true ] || exit 1; }

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

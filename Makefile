# netstack: `make run` builds the otelcol-netstack distribution and runs it on
# config/default.yaml; `make test` is what CI runs. Both install what they
# need themselves (Go tools at the versions pinned in internal/tools/go.mod,
# Debian packages for the kernel tests), idempotently.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
TOOLS     := $(CURDIR)/.tools
DIST      := _build/otelcol-netstack
CONFIG    ?= config/default.yaml
export PATH := $(TOOLS):$(PATH)

# Debian packages the kernel tests, BPF generation and recipe tests use.
APT_PKGS := clang-16 llvm-16 libbpf-dev bpftool nftables iputils-ping fping prometheus prometheus-node-exporter iproute2 util-linux curl bc python3 systemd \
	qemu-system-x86 busybox-static cpio kmod tcpdump file procps gnuplot-nox traceroute jq

GO_SOURCES := $(shell find . -path ./_build -prune -o -name '*.go' -print) go.mod go.sum

.PHONY: help
help:
	@echo "make run       build the distribution and run it on $(CONFIG) (metrics on http://127.0.0.1:8889/metrics)"
	@echo "make test      everything CI checks: generated code, lint, unit+kernel tests, distribution build and smoke test"
	@echo "make test-kernels  the kernel tests and smoke test on Debian 12's 6.1 kernel under qemu (part of make test)"
	@echo "make build     build $(DIST) with ocb"
	@echo "make generate  regenerate mdatagen and bpf2go output"
	@echo "make lint      gofmt, go vet, staticcheck"
	@echo "make bench     go benchmarks (side-by-side scripts: bench/*.sh)"
	@echo "make test-zabbix  deploy/zabbix template against a real Zabbix 6.0 (not in make test)"

# ---- tools ---------------------------------------------------------------

TOOL_BINS := $(TOOLS)/mdatagen $(TOOLS)/builder $(TOOLS)/staticcheck

$(TOOL_BINS) &: internal/tools/go.mod internal/tools/go.sum
	@mkdir -p $(TOOLS)
	cd internal/tools && $(GO) build -o $(TOOLS)/ \
		go.opentelemetry.io/collector/cmd/mdatagen \
		go.opentelemetry.io/collector/cmd/builder \
		honnef.co/go/tools/cmd/staticcheck
	@touch $(TOOL_BINS)

.PHONY: tools
tools: $(TOOL_BINS)

# $(call apt_install,PACKAGES): installs those of the Debian packages that
# are missing (idempotent; sudo when not root).
define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

.PHONY: deps
deps: tools
	$(call apt_install,$(APT_PKGS))
	@# BPF programs attach through tracefs on some kernels.
	@if [ "$$(id -u)" = 0 ] && [ -d /sys/kernel/tracing ] && ! mountpoint -q /sys/kernel/tracing; then \
		mount -t tracefs tracefs /sys/kernel/tracing || true; fi

# ---- generate ------------------------------------------------------------

# The BPF compiler, chosen by variable as cilium does; the bpf2go lines in
# gen.go read them (`-cc $BPF_CLANG -strip $BPF_STRIP -cflags $BPF_CFLAGS`),
# so run go generate through this target.
BPF_CLANG  ?= clang-16
BPF_STRIP  ?= llvm-strip-16
BPF_CFLAGS ?= -O2 -g -Wall
export BPF_CLANG BPF_STRIP BPF_CFLAGS

.PHONY: generate
generate: tools
	$(GO) generate ./...

# Fails when committed generated code differs from what `make generate`
# produces now (stale metadata.yaml output or BPF objects).
.PHONY: check-generated
check-generated: deps
	$(MAKE) --no-print-directory generate
	@changes=$$(git status --porcelain --untracked-files=all); \
	if [ -n "$$changes" ]; then \
		echo "$$changes"; git --no-pager diff --stat; \
		echo "generated code is stale (or the tree was not clean): run 'make generate' and commit the result"; exit 1; fi
	@echo "generated code is up to date"

# ---- lint ----------------------------------------------------------------

.PHONY: lint
lint: tools
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@# Every package, tests included, must build where the Collector does;
	@# components say "Linux only" at start, not at compile time.
	GOOS=darwin $(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	staticcheck ./...
	cd deploy/kubernetes/validate && $(GO) vet ./... && staticcheck ./...
	@for m in . internal/tools deploy/kubernetes/validate bench/sockstate; do \
		(cd $$m && $(GO) mod tidy -diff) || { echo "$$m: go.mod/go.sum are not tidy: run 'go mod tidy' there"; exit 1; }; done

# ---- test ----------------------------------------------------------------

# Unit tests, fuzz seed corpora and kernel tests (network namespaces; they
# skip with a message when not root — CI runs as root).
.PHONY: gotest
gotest: deps
	@if [ "$$(id -u)" != 0 ]; then echo "NOTE: not root: kernel tests will be skipped (they need network namespaces)"; fi
	@mkdir -p _build
	@# The host kernel's line of the kernel matrix (test-kernels prints it again
	@# beside the guest's).
	@rc=0; $(GO) test -race -count=1 -timeout 12m ./... 2>&1 | tee _build/gotest.log || rc=$$?; \
	if [ $$rc = 0 ]; then echo "kernel $$(uname -r): PASS" | tee _build/kernel-host.txt; \
	else echo "kernel $$(uname -r): FAIL" | tee _build/kernel-host.txt; grep -E '^(--- FAIL|FAIL)' _build/gotest.log | sed 's/^/  /'; fi; exit $$rc

.PHONY: smoke
smoke: $(DIST)
	test/smoke.sh $(DIST) $(CONFIG)

# Checks that need the built distribution: exporter recipes against a real
# Prometheus, deployment artefacts.
.PHONY: disttest
disttest: $(DIST)
	test/recipes/run.sh $(DIST)
	test/systemd.sh $(DIST)
	test/privileges/run.sh $(DIST)
	test/deploy/validate-configs.sh $(DIST)
	test/deploy/e2e.sh $(DIST)
	test/dashboards/run.sh $(DIST)
	test/alerts/run.sh $(DIST)

# The kernel matrix: every kernel test and the smoke test again on Debian
# 12's 6.1 kernel under qemu (test/kernels/run.sh); the host's line comes
# from gotest.
.PHONY: test-kernels
test-kernels: deps $(DIST)
	@cat _build/kernel-host.txt 2>/dev/null || echo "kernel $$(uname -r): not run here (make gotest runs the host's kernel tests)"
	test/kernels/run.sh $(DIST)

# bench/sockstate.sh inside the 6.1 guest, where fentry loads (not part of make test).
.PHONY: bench-kernels
bench-kernels: deps
	BENCH="$${SIZES:-100000}" GUEST_TIMEOUT=3000 test/kernels/run.sh /bin/true

.PHONY: test
test: check-generated lint gotest smoke disttest test-kernels

# deploy/zabbix against a real Zabbix 6.0 (Debian's server, PostgreSQL and
# frontend, all private to the run; about 1 minute once installed). Not part
# of `make test`: the packages pull in PHP and PostgreSQL.
ZABBIX_PKGS := zabbix-server-pgsql zabbix-frontend-php php-cli php-pgsql postgresql

.PHONY: test-zabbix
test-zabbix: $(DIST)
	$(call apt_install,$(ZABBIX_PKGS))
	test/zabbix/run.sh $(DIST)

# ---- build / run ---------------------------------------------------------

$(DIST): $(TOOLS)/builder builder-config.yaml $(GO_SOURCES)
	builder --config builder-config.yaml
	@touch $(DIST)

.PHONY: build
build: $(DIST)

.PHONY: run
run: $(DIST)
	$(DIST) --config $(CONFIG)

.PHONY: bench
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# 30-minute soak of the whole distribution (not part of make test).
.PHONY: soak
soak: $(DIST)
	bench/soak.sh $(DIST)

.PHONY: clean
clean:
	rm -rf _build

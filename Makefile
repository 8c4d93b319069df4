# sluice — every target works on a fresh machine: tools and servers install themselves.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin

TOOLS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sluice/tools
BUF := $(TOOLS_DIR)/buf-v1.75.0/bin/buf
PROTOC_GEN_GO := $(TOOLS_DIR)/protoc-gen-go-v1.36.12/bin/protoc-gen-go
STATICCHECK := $(TOOLS_DIR)/staticcheck-v0.8.2/bin/staticcheck

# go test ./... does not span a go.work: list every module's packages.
MODULES = $(shell go list -m -f '{{.Dir}}/...')
BINARIES = sluice-extractor:services/extractor sluice-staging-store:services/staging-store \
	sluice-transformer:services/transformer sluice-loader:services/loader sluice:services/sluice \
	sluice-sim-amazonads:services/simulators/amazonads sluice-sim-portal:services/simulators/portal \
	sluice-sim-catalog:services/simulators/catalog
INFRA_ENV = set -a; eval "$$(bash deploy/local/infra.sh env)"; set +a
K8S_ENV = set -a; eval "$$(bash deploy/local/k8s-tools.sh env)"; set +a

.PHONY: build test test-unit fuzz demo bench bench-peers chaos proto proto-check lint infra-up infra-down infra-status k8s-up k8s-down images clean

build: ## build every binary into bin/
	@mkdir -p bin
	@for b in $(BINARIES); do go build -o bin/$${b%%:*} ./$${b#*:} || exit 1; done
	@echo "built: $$(ls bin | tr '\n' ' ')"

test: infra-up k8s-up ## unit and integration tests against the real local servers, unit tests with -race, a short fuzz pass
	@$(INFRA_ENV); $(K8S_ENV); SLUICE_INTEGRATION=1 go test -count=1 -timeout 30m -p 2 $(MODULES)
	go test -race -short -count=1 -timeout 20m $(MODULES)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_TEST)

test-unit: ## fast tests only: no servers needed
	go test -short -count=1 $(MODULES)

# Every Fuzz target of every module (found in the *_test.go files), FUZZTIME each; make test
# runs each for FUZZTIME_TEST. go test -fuzz takes one target of one package at a time.
FUZZTIME ?= 1m
FUZZTIME_TEST ?= 3s
fuzz: ## run every fuzz target for FUZZTIME (default 1m) each
	@for f in $$(git grep -l '^func Fuzz' -- '*_test.go'); do \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$name in ./$$(dirname $$f) for $(FUZZTIME)"; \
			go test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f) || \
			{ echo "fuzz $$name again: the engine can end a short run with 'context deadline exceeded'; a real failing input was saved under testdata/fuzz and fails again"; \
			  go test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f); } || exit 1; \
		done; \
	done

demo: infra-up build ## run the pipeline end to end on the local servers and print a summary
	@$(INFRA_ENV); go run ./e2e/demo --bin bin

bench: infra-up ## benchmarks; BENCH_SCALE=small for a quick run
	@$(INFRA_ENV); go run ./bench

bench-peers: infra-up ## the load bench's rows through the peer (Benthos v4.27.0, built once) and through sluice, same run
	@$(INFRA_ENV); bash bench/peers/install-benthos.sh >/dev/null && go run ./bench -only peers

chaos: infra-up ## fault trials: CHAOS_TRIALS (50) kill -9 trials, dependency restarts, cluster node loss, SIGTERM
	@go run ./e2e/chaos/cmd/chaos

$(BUF):
	GOWORK=off GOBIN=$(dir $@) go install github.com/bufbuild/buf/cmd/buf@v1.75.0
$(PROTOC_GEN_GO):
	GOWORK=off GOBIN=$(dir $@) go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
$(STATICCHECK):
	GOWORK=off GOBIN=$(dir $@) go install honnef.co/go/tools/cmd/staticcheck@v0.8.2

proto: $(BUF) $(PROTOC_GEN_GO) ## regenerate Go code from proto/
	PATH=$(dir $(PROTOC_GEN_GO)):$$PATH $(BUF) generate

proto-check: proto ## fail when the committed generated code is stale
	@git diff --exit-code -- proto || { echo "generated code in proto/ is stale: run make proto and commit"; exit 1; }

lint: $(STATICCHECK) ## go vet, gofmt, staticcheck and (when its database is reachable) govulncheck over every module
	go vet $(MODULES)
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); [ -z "$$out" ] || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(STATICCHECK) $(MODULES)
	@bash deploy/local/vulncheck.sh

infra-up: ## install (pinned, cached) and start NATS, PostgreSQL, FerretDB, S3, Jaeger
	@bash deploy/local/infra.sh up

infra-down: ## stop the local servers and remove their data
	@bash deploy/local/infra.sh down

infra-status:
	@bash deploy/local/infra.sh status

k8s-up: ## install helm, etcd and kube-apiserver and start the API server (chart tests)
	@bash deploy/local/k8s-tools.sh up

k8s-down:
	@bash deploy/local/k8s-tools.sh down

images: ## build the container images (needs a Docker engine)
	@bash deploy/docker/build-images.sh

clean:
	rm -rf bin .bench .demo

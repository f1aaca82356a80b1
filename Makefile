GO ?= go

.PHONY: test lint build bench generate fuzz

# The tests a developer runs; .ci/run runs the same command.
test:
	$(GO) test -race ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

build:
	$(GO) build -o bin/tokenkeeper ./cmd/tokenkeeper

# The benchmark harness with its quick settings: a few minutes on two cores,
# prints the results table. The full run, whose numbers docs/BENCHMARKS.md
# holds: go run ./cmd/tokenkeeper bench --out docs/BENCHMARKS.md
bench:
	$(GO) run ./cmd/tokenkeeper bench --quick

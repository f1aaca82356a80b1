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

# Everyday commands; the scripts do the real work (see README.md).

GO ?= go

.PHONY: all build run test bench fmt vet clean

all: build

build:
	$(GO) build -o bin/gaffer ./cmd/gaffer

run:
	scripts/run

test:
	scripts/test

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./bench/...

fmt:
	gofmt -l -w .

vet:
	$(GO) vet ./...

clean:
	rm -rf bin

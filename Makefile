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

# scripts/test starts PostgreSQL and Redis and installs sshd when missing;
# the fleet benchmarks compare with parallel-ssh and ansible (Fleet: 40
# hosts; Fleet200: `uname -a` on 200 hosts, 13 sshd, beside 200 bare
# x/crypto/ssh handshakes and parallel-ssh -p 200). Then the
# follow engine's append → line latency (1 and 40 files; docs/follow.md),
# then the archive's size and speed beside raw write, bufio.Scanner and grep,
# and what zstd per frame would save and cost (ArchiveZstd).
bench:
	@command -v parallel-ssh >/dev/null && command -v ansible >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pssh ansible; }
	scripts/test -v -run '^$$' -bench . -benchtime 1x -timeout 90m ./bench/...
	scripts/test -run '^$$' -bench FollowLatency -benchtime 20x ./localexec ./sshexec
	scripts/test -v -run '^$$' -bench 'Archive(Batches|Zstd)' -benchtime 1x ./archive

fmt:
	gofmt -l -w .

vet:
	$(GO) vet ./...

clean:
	rm -rf bin

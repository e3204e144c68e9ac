# bounced: build, demo, tests and figures. `make test` is what CI runs.

GO            ?= go
STATICCHECK   ?= honnef.co/go/tools/cmd/staticcheck@v0.7.0
FUZZTIME      ?= 20s
GOBIN         := $(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin)

.PHONY: all build demo test check fmt vet staticcheck unit fuzz bench figures service-figures clean

all: build

build:
	$(GO) build -o bin/bounced ./cmd/bounced

# Run the service on the sample notices in an IMAP server inside the
# process, store them in PostgreSQL, and show what was found.
demo:
	$(GO) run ./cmd/bounced demo

# Everything CI checks: formatting, vet, staticcheck, the tests with the
# race detector, and each fuzz target for $(FUZZTIME).
test: check unit fuzz

check: fmt vet staticcheck

fmt:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) install $(STATICCHECK)
	$(GOBIN)/staticcheck ./...

unit:
	$(GO) test -race ./...

# Every Fuzz function of every package, one after the other.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# Speed and memory figures for the README.
bench figures:
	scripts/figures

# The service's figures against a Dovecot of its own (drain rate, memory,
# IDLE latency); needs dovecot-imapd and a PostgreSQL on 127.0.0.1:5432.
service-figures:
	$(GO) run ./scripts/drainbench

clean:
	rm -rf bin

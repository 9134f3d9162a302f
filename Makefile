# qmp-tools: build, try, test, install.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man
BINS = qmp-exec qmp-events qom-get qom-set qom-list qom-tree
CARGO ?= cargo

.PHONY: all build demo test lint bench install uninstall clean

all: build

build:
	$(CARGO) build --release --locked

# Starts a qemu-storage-daemon in a temporary directory, runs the tools
# against it, and stops it.
demo: build
	./scripts/demo

test:
	$(CARGO) test --locked

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

bench:
	./bench/run

install: build
	install -d $(BINDIR) $(MANDIR)/man1
	for b in $(BINS); do install -m 755 target/release/$$b $(BINDIR)/$$b; done
	for b in $(BINS); do install -m 644 man/$$b.1 $(MANDIR)/man1/$$b.1; done

uninstall:
	for b in $(BINS); do rm -f $(BINDIR)/$$b $(MANDIR)/man1/$$b.1; done

clean:
	$(CARGO) clean

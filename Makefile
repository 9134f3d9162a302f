# qmp-tools: build, try, test, install.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man
BASHDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR = $(DESTDIR)$(PREFIX)/share/zsh/site-functions
FISHDIR = $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
BINS = qmp-exec qmp-shell qmp-events qom-get qom-set qom-list qom-tree qom-fuse qga-exec qga-run
CARGO ?= cargo
# The binaries are linked statically (glibc's crt-static) by default: a
# one-shot run then skips the dynamic loader's work (libgcc_s, libc), about
# 0.4 ms of a 3 ms run (BENCHMARKS.md). Host names still resolve for TCP:
# static glibc loads the system's NSS modules (files, dns) at run time, so
# the glibc the binary was built with must be installed; numeric addresses
# need nothing. STATIC=0 builds dynamic binaries in target/release.
STATIC ?= 1
HOST := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
ifeq ($(STATIC),1)
RELEASE_SUB = $(HOST)/release
BUILD = RUSTFLAGS="$$RUSTFLAGS -C target-feature=+crt-static" $(CARGO) build --release --locked --target $(HOST)
else
RELEASE_SUB = release
BUILD = $(CARGO) build --release --locked
endif

.PHONY: all build release-sub demo test lint bench completions fuzz-smoke install install-check uninstall clean

all: build

build:
	$(BUILD)

# Where `make build` puts the binaries, under cargo's target directory.
release-sub:
	@echo $(RELEASE_SUB)

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

# Every fuzz target for 30 s (see fuzz/README.md; needs cargo-fuzz).
FUZZ_TARGETS = decoder items address prop_path pyfmt events
fuzz-smoke:
	for t in $(FUZZ_TARGETS); do \
	    mkdir -p /tmp/qmp-fuzzwork/$$t && \
	    RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -s none $$t /tmp/qmp-fuzzwork/$$t fuzz/corpus/$$t \
	        -- -max_total_time=30 || exit 1; \
	done

# Regenerates the committed completion scripts from the clap definitions
# (a test fails when they are out of date).
completions:
	$(CARGO) build --locked
	for b in $(BINS); do \
	    target/debug/$$b --generate complete-bash > completions/$$b.bash && \
	    target/debug/$$b --generate complete-zsh > completions/_$$b && \
	    target/debug/$$b --generate complete-fish > completions/$$b.fish || exit 1; \
	done

install: build
	install -d $(BINDIR) $(MANDIR)/man1 $(MANDIR)/man7 $(BASHDIR) $(ZSHDIR) $(FISHDIR)
	for b in $(BINS); do \
	    install -m 755 target/$(RELEASE_SUB)/$$b $(BINDIR)/$$b && \
	    install -m 644 man/$$b.1 $(MANDIR)/man1/$$b.1 && \
	    install -m 644 completions/$$b.bash $(BASHDIR)/$$b && \
	    install -m 644 completions/_$$b $(ZSHDIR)/_$$b && \
	    install -m 644 completions/$$b.fish $(FISHDIR)/$$b.fish || exit 1; \
	done
	install -m 644 man/qmp-tools.7 $(MANDIR)/man7/qmp-tools.7

# Installs into a temporary DESTDIR, checks every file and renders every
# page with man -l, then uninstalls and checks that nothing is left.
install-check:
	./scripts/install-check

uninstall:
	for b in $(BINS); do \
	    rm -f $(BINDIR)/$$b $(MANDIR)/man1/$$b.1 $(BASHDIR)/$$b $(ZSHDIR)/_$$b $(FISHDIR)/$$b.fish; \
	done
	rm -f $(MANDIR)/man7/qmp-tools.7

clean:
	$(CARGO) clean

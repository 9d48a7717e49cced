# Open PED suite: one non-recursive build for every program.
#
#   make            build every program into build/bin and libped into build/lib
#   make check      install missing packages, build, run every test
#   make check-asan the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make demo       install missing packages, build, run the main job
#   make fuzz       build the libFuzzer targets (clang) and run each FUZZ_SECONDS
#   make deps       install the Debian packages the build and tests need
#
# Each program folder has a module.mk that names its programs and sources; this
# file only knows the conventions.

VERSION      := 0.1.0
BUILD        ?= build
CC           ?= cc
PKG_CONFIG   ?= pkg-config
PKGS         := openssl libusb-1.0 ncursesw libconfig cunit

BIN          := $(BUILD)/bin
LIBDIR       := $(BUILD)/lib
OBJ          := $(BUILD)/obj

# ncursesw's pkg-config asks for _XOPEN_SOURCE=600; we set 700 ourselves below.
PKG_CFLAGS   := $(filter-out -D_XOPEN_SOURCE% -D_DEFAULT_SOURCE,$(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null))
PKG_LIBS     := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

OPTFLAGS     ?= -O2 -g
WARNFLAGS    := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
                -Wmissing-prototypes -Wformat=2 -Wvla
CPPFLAGS     += -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE \
                -DPED_VERSION=\"$(VERSION)\" -Icommon/include
CFLAGS       ?=
CFLAGS       += -std=c11 $(OPTFLAGS) $(WARNFLAGS) $(SANFLAGS) $(PKG_CFLAGS) -MMD -MP
LDFLAGS      += $(SANFLAGS)
LDLIBS       += $(PKG_LIBS) -lpthread

LIBPED       := $(LIBDIR)/libped.a
PREFIX       ?= /usr/local
DESTDIR      ?=
SYSCONFDIR   ?=
PROGRAMS     :=
TEST_TOOLS   :=

.PHONY: all deps check reliability check-asan check-valgrind bench demo demo-tui fuzz clean programs-list install uninstall
all:

# --- the shared library ----------------------------------------------------
LIBPED_SRCS  := $(wildcard common/src/*.c)
LIBPED_OBJS  := $(LIBPED_SRCS:%.c=$(OBJ)/%.o)

$(LIBPED): $(LIBPED_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# program NAME, SOURCES, EXTRA-LIBS: one binary in build/bin linked with libped
define program
PROGRAMS += $(BIN)/$(1)
$(BIN)/$(1): $$(patsubst %.c,$(OBJ)/%.o,$(2)) $(LIBPED)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $(3) $$(LDLIBS)
endef

include $(sort $(wildcard */module.mk))

all: $(PROGRAMS) $(TEST_TOOLS) $(UNIT_RUNNER)

# --- setup and the two README commands --------------------------------------
deps:
	@scripts/install-deps.sh

check: deps
	@$(MAKE) --no-print-directory all
	@tests/check.sh $(BUILD)

check-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan CC=clang OPTFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" all
	@rm -rf build-asan/sanitizer-logs && mkdir -p build-asan/sanitizer-logs
	@# Reports go to files too: a daemon's stderr is /dev/null once it has detached.
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(CURDIR)/build-asan/sanitizer-logs/asan \
	  UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/build-asan/sanitizer-logs/ubsan \
	  tests/check.sh build-asan
	@if ls build-asan/sanitizer-logs/* >/dev/null 2>&1; then \
	  echo "sanitizer reports:"; cat build-asan/sanitizer-logs/*; exit 1; fi

check-valgrind: deps
	@$(MAKE) --no-print-directory all
	@PED_VALGRIND=1 tests/check.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(BUILD)

# Speed and footprint against the crypto floor, in one run (docs/performance.md).
bench: deps
	@$(MAKE) --no-print-directory all
	@scripts/bench.sh $(BUILD)

demo-tui: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(BUILD) --tui

# PREFIX=/usr/local DESTDIR= SYSCONFDIR=PREFIX/etc (or /etc when PREFIX=/usr). Build first (make):
# install copies what BUILD holds, so it never rebuilds with other flags.
install:
	@PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" SYSCONFDIR="$(SYSCONFDIR)" scripts/install.sh install $(BUILD)

uninstall:
	@PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" SYSCONFDIR="$(SYSCONFDIR)" scripts/install.sh uninstall $(BUILD)

programs-list:
	@for p in $(PROGRAMS); do echo $$p; done

clean:
	rm -rf build build-asan build-fuzz

-include $(LIBPED_OBJS:.o=.d) $(ALL_OBJS:.o=.d)

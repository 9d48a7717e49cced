# Open PED suite: one non-recursive build for every program.
#
#   make            build every program into build/bin and libped into build/lib
#   make check      install missing packages, build, run every test
#   make check-asan the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make check-tsan the same under ThreadSanitizer (gcc; slow: not in check)
#   make demo       install missing packages, build, run the main job
#   make fuzz       build the libFuzzer targets (clang) and run each FUZZ_SECONDS
#   make bench      speed and footprint against the crypto floor
#   make reliability fuzzing, faults, hostile relay and network, capture,
#                   endurance, brute force: one table (FUZZ_SECONDS, default 20)
#   make deps       install the Debian packages the build and tests need
#   make deb        the Debian package (dpkg-buildpackage -us -uc -b, into ..)
#   make check-deb  build it in a scratch copy, lintian, install it into a
#                   scratch root and run each program there (slow: not in check)
#
# Each program folder has a module.mk that names its programs, its library and
# their sources (the program and static_lib macros below); this file knows the
# conventions and the libraries' link order. docs/architecture.md, "Adding a
# program" and "Adding a test".

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
# each function and datum in a section of its own: the programs and the
# PKCS#11 module link with --gc-sections and keep only what is reached
CFLAGS       += -std=c11 -ffunction-sections -fdata-sections $(OPTFLAGS) $(WARNFLAGS) $(SANFLAGS) $(PKG_CFLAGS) -MMD -MP
# a library no object calls is not loaded: libssl is dlopened when TLS is
# first used (common/include/ped/libssl.h), and clang does not drop it alone
LDFLAGS      += $(SANFLAGS) -Wl,--as-needed
LDLIBS       += $(PKG_LIBS) -lpthread

PREFIX       ?= /usr/local
DESTDIR      ?=
SYSCONFDIR   ?=
# Where the programs look for the system configuration (SYSCONFDIR/openped):
# built in, so make and make install take the same PREFIX (install checks).
SYSCONF_BUILT := $(if $(SYSCONFDIR),$(SYSCONFDIR),$(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc))
SYSCONF_STAMP := $(BUILD)/sysconfdir
PROGRAMS     :=
TEST_TOOLS   :=

.PHONY: FORCE all programs deb check-deb deps check check-asan check-tsan check-valgrind bench reliability demo demo-tui fuzz clean programs-list install uninstall
all:

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# --- libraries and programs --------------------------------------------------
# Every static library by name, each before those it uses: link lines take
# the libraries they need in this order, whatever order a module.mk names
# them in or the module.mk files are read in. A folder's module.mk builds
# its library with static_lib; libped (common/) is built here.
LIBRARIES    := peddevice hsmd rbs hsm ikey pedtool p11mod ped

# lib_files NAMES: build/lib/libNAME.a for each name, in link order.
lib_files     = $(patsubst %,$(LIBDIR)/lib%.a,$(filter $(1),$(LIBRARIES)))

# static_lib NAME, SOURCES: build/lib/libNAME.a from SOURCES' objects.
define static_lib
$$(if $$(filter $(1),$$(LIBRARIES)),,$$(error static_lib $(1): name it in LIBRARIES in the top Makefile))
ALL_OBJS += $$(patsubst %.c,$$(OBJ)/%.o,$(2))
$(LIBDIR)/lib$(1).a: $$(patsubst %.c,$$(OBJ)/%.o,$(2))
	@mkdir -p $$(@D)
	rm -f $$@
	$$(AR) rcs $$@ $$^
endef

# Shared objects (the PKCS#11 module) are made of PIC objects, compiled
# apart under build/obj/pic with every symbol hidden unless the code says
# it is exported, and of libped's own PIC copy, libped_pic.a.
PIC_OBJ      := $(OBJ)/pic
SHARED_MODULES :=

$(PIC_OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

# static_pic_lib NAME, SOURCES: build/lib/libNAME.a from SOURCES' PIC
# objects: what a shared object is made of, for the unit tests to link.
define static_pic_lib
$$(if $$(filter $(1),$$(LIBRARIES)),,$$(error static_pic_lib $(1): name it in LIBRARIES in the top Makefile))
ALL_OBJS += $$(patsubst %.c,$$(PIC_OBJ)/%.o,$(2))
$(LIBDIR)/lib$(1).a: $$(patsubst %.c,$$(PIC_OBJ)/%.o,$(2))
	@mkdir -p $$(@D)
	rm -f $$@
	$$(AR) rcs $$@ $$^
endef

# shared_module NAME, SOURCES, MAPFILE, LIBS: build/lib/NAME.so from
# SOURCES' PIC objects and libped_pic.a, exporting what the version script
# MAPFILE says, linked with LIBS. Undefined symbols are an error, but in a
# sanitizer build (the runtime comes with the program that loads it). What
# nothing exported reaches is left out (--gc-sections): a libped object the
# module needs one function of brings none of its others (no signal
# handling, no printing).
define shared_module
SHARED_MODULES += $(LIBDIR)/$(1).so
ALL_OBJS += $$(patsubst %.c,$$(PIC_OBJ)/%.o,$(2))
$(LIBDIR)/$(1).so: $$(patsubst %.c,$$(PIC_OBJ)/%.o,$(2)) $(LIBDIR)/libped_pic.a $(3)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -shared -Wl,-soname,$(1).so -Wl,--version-script=$(3) -Wl,--gc-sections \
	  $$(if $$(SANFLAGS),,-Wl,-z,defs) -o $$@ $$(filter %.o %.a,$$^) $(4)
endef

# program NAME, SOURCES, LIBRARIES: build/bin/NAME from SOURCES, linked with
# the libraries named (by NAME, as in LIBRARIES) and libped.
define program
PROGRAMS += $(BIN)/$(1)
ALL_OBJS += $$(patsubst %.c,$$(OBJ)/%.o,$(2))
$(BIN)/$(1): $$(patsubst %.c,$$(OBJ)/%.o,$(2)) $$(call lib_files,$(3) ped)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -Wl,--gc-sections -o $$@ $$^ $$(LDLIBS)
endef

# libped's application protocol codec (ped/p11wire.h) and libhsm use
# p11-kit's packaged PKCS#11 header: its include directory only, no library.
CPPFLAGS     += $(shell $(PKG_CONFIG) --cflags p11-kit-1 2>/dev/null)

$(eval $(call static_lib,ped,$(wildcard common/src/*.c)))
# The stamp changes only with SYSCONFDIR, so only then is fileio.o rebuilt;
# make install reads it to check it installs where the build looks.
$(SYSCONF_STAMP): FORCE
	@mkdir -p $(@D)
	@[ "$$(cat $@ 2>/dev/null)" = "$(SYSCONF_BUILT)" ] || echo "$(SYSCONF_BUILT)" >$@
$(OBJ)/common/src/fileio.o: $(SYSCONF_STAMP)
$(OBJ)/common/src/fileio.o: CPPFLAGS += -DPED_SYSCONFDIR=\"$(SYSCONF_BUILT)\"
$(PIC_OBJ)/common/src/fileio.o: $(SYSCONF_STAMP)
$(PIC_OBJ)/common/src/fileio.o: CPPFLAGS += -DPED_SYSCONFDIR=\"$(SYSCONF_BUILT)\"
FORCE:
ALL_OBJS += $(patsubst %.c,$(PIC_OBJ)/%.o,$(wildcard common/src/*.c))
$(LIBDIR)/libped_pic.a: $(patsubst %.c,$(PIC_OBJ)/%.o,$(wildcard common/src/*.c))
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

include $(sort $(wildcard */module.mk))

all: $(PROGRAMS) $(SHARED_MODULES) $(TEST_TOOLS) $(UNIT_RUNNER)
# The programs and the PKCS#11 module alone, for a package build (no test
# tools, no CUnit runner).
programs: $(PROGRAMS) $(SHARED_MODULES)

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

# ThreadSanitizer cannot share a build with ASan: build-tsan. A race fails
# the program that saw it (halt_on_error, exit 66) and leaves its report in
# build-tsan/sanitizer-logs, which fails the run. tests/tsan.supp says why
# each of its few lines (third-party code only) is there. gcc: the PKCS#11
# module runs in programs not built here (pkcs11-tool) with the shared
# runtime preloaded (tests/lib.sh, so_runtime), and clang 14's crashes at
# start with this glibc; -O2 as make's own (gcc's -O1 warns of an
# uninitialized value -O2 sees is not).
check-tsan: deps
	@$(MAKE) --no-print-directory BUILD=build-tsan CC=gcc OPTFLAGS="-O2 -g -fno-omit-frame-pointer" \
	  SANFLAGS="-fsanitize=thread" all
	@rm -rf build-tsan/sanitizer-logs && mkdir -p build-tsan/sanitizer-logs
	@TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp:log_path=$(CURDIR)/build-tsan/sanitizer-logs/tsan" \
	  tests/check.sh build-tsan
	@if ls build-tsan/sanitizer-logs/* >/dev/null 2>&1; then \
	  echo "sanitizer reports:"; cat build-tsan/sanitizer-logs/*; exit 1; fi

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

# Fuzzing, faults, hostile peers and networks, endurance (docs/security.md).
reliability: deps
	@$(MAKE) --no-print-directory all
	@scripts/reliability.sh $(BUILD)

demo-tui: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(BUILD) --tui

# PREFIX=/usr/local DESTDIR= SYSCONFDIR=PREFIX/etc (or /etc when PREFIX=/usr). Build first (make):
# install copies what BUILD holds, so it never rebuilds with other flags.
install:
	@PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" SYSCONFDIR="$(SYSCONFDIR)" scripts/install.sh install $(BUILD)

deb: deps
	dpkg-buildpackage -us -uc -b

check-deb: deps
	@PED_TESTS=tests/package/deb.sh tests/check.sh $(BUILD)

uninstall:
	@PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" SYSCONFDIR="$(SYSCONFDIR)" scripts/install.sh uninstall $(BUILD)

programs-list:
	@for p in $(PROGRAMS); do echo $$p; done

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(ALL_OBJS:.o=.d)

# Tests: the CUnit runner (every tests/unit/test_*.c), test tools, fuzz targets.

UNIT_RUNNER  := $(BUILD)/tests/unit-tests
UNIT_SRCS    := tests/unit/main.c tests/unit/kas_fixture.c tests/unit/ikey_fixture.c \
                tests/unit/keys_fixture.c $(wildcard tests/unit/test_*.c)
ALL_OBJS     += $(UNIT_SRCS:%.c=$(OBJ)/%.o)
# The unit runner and the fuzz targets link every library (a program's
# library holds the code its tests reach); only what they use is pulled in.
TEST_LIBS    := $(call lib_files,$(LIBRARIES))

$(UNIT_RUNNER): $(UNIT_SRCS:%.c=$(OBJ)/%.o) $(TEST_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $+ $(LDLIBS)

# Test tools: small programs the shell tests drive (tests/tools/NAME.c).
TEST_TOOL_SRCS := $(filter-out tests/tools/clockjump.c tests/tools/keyspy.c,$(wildcard tests/tools/*.c))
TEST_TOOLS     += $(TEST_TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/%)
ALL_OBJS       += $(TEST_TOOL_SRCS:%.c=$(OBJ)/%.o)

$(BUILD)/tests/%: $(OBJ)/tests/tools/%.o $(call lib_files,ped)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $+ $(LDLIBS)

# The fake HSM (tests/tools/fake_hsm.c) reads a stolen orange key with libikey
# and the real HSM's state file with libhsm, as an attacker with those files would.
$(BUILD)/tests/fake_hsm: $(OBJ)/tests/tools/fake_hsm.o $(call lib_files,hsm ikey ped)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $+ $(LDLIBS)

# Real keys in a state file, for the end-to-end suites (hsm_keys.c).
$(BUILD)/tests/hsm_keys: $(OBJ)/tests/tools/hsm_keys.o $(call lib_files,hsm ped)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $+ $(LDLIBS)

# The seed writer of the fuzz targets that read sealed HSM state.
$(BUILD)/tests/hsm_seeds: $(OBJ)/tests/tools/hsm_seeds.o $(call lib_files,hsm ped)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $+ $(LDLIBS)

# The stand-in for hsm-sim's application protocol keeps its objects in libhsm.
$(BUILD)/tests/p11_standin: $(OBJ)/tests/tools/p11_standin.o $(call lib_files,hsm ped)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $+ $(LDLIBS)

# The offline PIN search reads key files the way the PED does.
$(BUILD)/tests/pin_thief: $(OBJ)/tests/tools/pin_thief.o $(call lib_files,ikey ped)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $+ $(LDLIBS)

# The clock-jump shim (tests/tools/clockjump.c): a shared object that the fault
# tests LD_PRELOAD into daemons, so built without sanitizers.
TEST_TOOLS += $(BUILD)/tests/clockjump.so
$(BUILD)/tests/clockjump.so: tests/tools/clockjump.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -fPIC -shared -Wall -Wextra -Werror -o $@ $< -ldl

# The key-lifetime shim (tests/tools/keyspy.c), preloaded the same way.
TEST_TOOLS += $(BUILD)/tests/keyspy.so
$(BUILD)/tests/keyspy.so: tests/tools/keyspy.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -fPIC -shared -Wall -Wextra -Werror -o $@ $< -ldl -lcrypto

# Fuzz targets (tests/fuzz/fuzz_NAME.c) with libFuzzer; each has a seed corpus
# in tests/fuzz/corpus/NAME. FUZZ_SECONDS per target; 0 builds only.
FUZZ_SECONDS ?= 60
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES   := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)

fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang OPTFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  SANFLAGS="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all" fuzz-targets
	@tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-targets: $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: tests/fuzz/fuzz_%.c $(TEST_LIBS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer -o $@ $+ $(LDFLAGS) $(LDLIBS)

.PHONY: fuzz fuzz-targets

# The same targets with tests/fuzz/replay_main.c for main, built by every
# compiler in the default build: make check replays each corpus (and
# mutations of it) through them in tests/shell/fuzz_smoke.sh.
FUZZ_REPLAY  := $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay/%)
TEST_TOOLS   += $(FUZZ_REPLAY)
ALL_OBJS     += $(FUZZ_SRCS:%.c=$(OBJ)/%.o) $(OBJ)/tests/fuzz/replay_main.o
# kept, so their .d files keep pointing at objects that exist
.SECONDARY: $(FUZZ_SRCS:%.c=$(OBJ)/%.o) $(OBJ)/tests/fuzz/replay_main.o

$(BUILD)/fuzz-replay/%: $(OBJ)/tests/fuzz/fuzz_%.o $(OBJ)/tests/fuzz/replay_main.o $(TEST_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $+ $(LDLIBS)

# The USB test bed (tests/usb): a umockdev device for pedserver's libusb
# transport, built when umockdev's library is installed (make deps does).
UMOCKDEV_CFLAGS := $(shell $(PKG_CONFIG) --cflags umockdev-1.0 glib-2.0 2>/dev/null)
UMOCKDEV_LIBS   := $(shell $(PKG_CONFIG) --libs umockdev-1.0 glib-2.0 2>/dev/null)
ifneq ($(UMOCKDEV_LIBS),)
TEST_TOOLS += $(BUILD)/tests/usb_testbed
$(BUILD)/tests/usb_testbed: tests/usb/usb_testbed.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -D_GNU_SOURCE $(OPTFLAGS) -Wall -Wextra -Werror $(UMOCKDEV_CFLAGS) \
	  -o $@ $< $(UMOCKDEV_LIBS)
endif

# hsm-sim: the HSM simulator's library (libhsm: state, rules, state files,
# control channel), the hsm-sim daemon and the hsmcm shell.
LIBHSM       := $(LIBDIR)/libhsm.a
LIBHSM_SRCS  := $(wildcard hsm-sim/lib/*.c)
LIBHSM_OBJS  := $(LIBHSM_SRCS:%.c=$(OBJ)/%.o)
HSM_SIM_SRCS := $(wildcard hsm-sim/daemon/*.c)
HSMCM_SRCS   := hsm-sim/hsmcm/main.c
CPPFLAGS     += -Ihsm-sim/include
# The PKCS#11 types and constants libhsm's key headers use: p11-kit's header
# only (no library to link), so only its include directory.
CPPFLAGS     += $(shell $(PKG_CONFIG) --cflags p11-kit-1 2>/dev/null)
ALL_OBJS     += $(LIBHSM_OBJS) $(HSM_SIM_SRCS:%.c=$(OBJ)/%.o) $(HSMCM_SRCS:%.c=$(OBJ)/%.o)
UNIT_LIBS    += $(LIBHSM)
FUZZ_LIBS    += $(LIBHSM)

$(LIBHSM): $(LIBHSM_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(eval $(call program,hsm-sim,$(HSM_SIM_SRCS) $(LIBHSM),))
$(eval $(call program,hsmcm,$(HSMCM_SRCS) $(LIBHSM),))

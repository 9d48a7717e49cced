# hsm-sim: the HSM simulator's library (libhsm): state, rules, state files.
# The hsm-sim daemon and the hsmcm shell build on it.
LIBHSM       := $(LIBDIR)/libhsm.a
LIBHSM_SRCS  := $(wildcard hsm-sim/lib/*.c)
LIBHSM_OBJS  := $(LIBHSM_SRCS:%.c=$(OBJ)/%.o)
CPPFLAGS     += -Ihsm-sim/include
ALL_OBJS     += $(LIBHSM_OBJS)
UNIT_LIBS    += $(LIBHSM)
FUZZ_LIBS    += $(LIBHSM)

$(LIBHSM): $(LIBHSM_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

# ikey-sim: the iKey library (libikey) and the ikey tool.
LIBIKEY      := $(LIBDIR)/libikey.a
LIBIKEY_SRCS := $(wildcard ikey-sim/lib/*.c)
LIBIKEY_OBJS := $(LIBIKEY_SRCS:%.c=$(OBJ)/%.o)
CPPFLAGS     += -Iikey-sim/include
ALL_OBJS     += $(LIBIKEY_OBJS) $(OBJ)/ikey-sim/ikey.o
UNIT_LIBS    += $(LIBIKEY)
FUZZ_LIBS    += $(LIBIKEY)

$(LIBIKEY): $(LIBIKEY_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(eval $(call program,ikey,ikey-sim/ikey.c $(LIBIKEY),))

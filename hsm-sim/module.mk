# hsm-sim: the HSM simulator's library (libhsm: state, rules, state files,
# control channel), the hsm-sim daemon and the hsmcm shell.
CPPFLAGS     += -Ihsm-sim/include

$(eval $(call static_lib,hsm,$(wildcard hsm-sim/lib/*.c)))
$(eval $(call program,hsm-sim,$(wildcard hsm-sim/daemon/*.c),hsm))
$(eval $(call program,hsmcm,hsm-sim/hsmcm/main.c,hsm))

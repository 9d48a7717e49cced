# hsm-sim: the HSM simulator's library (libhsm: state, rules, state files,
# control channel), the hsm-sim daemon and the hsmcm shell.
CPPFLAGS     += -Ihsm-sim/include
# libhsm's key headers use p11-kit's PKCS#11 header: the top-level Makefile
# adds its include directory for everyone (libped's p11wire needs it too).

$(eval $(call static_lib,hsm,$(wildcard hsm-sim/lib/*.c)))
$(eval $(call program,hsm-sim,$(wildcard hsm-sim/daemon/*.c),hsm))
$(eval $(call program,hsmcm,hsm-sim/hsmcm/main.c,hsm))
# The daemon's code but main.c, as a library for the fuzz target of its
# application protocol (tests/fuzz/fuzz_p11server.c). hsm-sim links the
# objects themselves: each command registers itself (a constructor), which
# nothing would pull out of an archive.
$(eval $(call static_lib,hsmd,$(filter-out hsm-sim/daemon/main.c,$(wildcard hsm-sim/daemon/*.c))))
# hsmcm -server reads the network servers vtl keeps in the PKCS#11
# module's configuration file: the same default as the module's, the
# build's SYSCONFDIR; rebuilt when it changes (the stamp, as fileio.o).
$(OBJ)/hsm-sim/hsmcm/main.o: $(SYSCONF_STAMP)
$(OBJ)/hsm-sim/hsmcm/main.o: CPPFLAGS += -DHSMCM_NETCFG_DEFAULT=\"$(SYSCONF_BUILT)/openped/openped-pkcs11.conf\"

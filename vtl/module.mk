# vtl: the client side's registration tool for network HSMs: its own
# certificate, the servers it trusts (the module's configuration file),
# and a check that each shows its slots.
# Its default file is the module's: the build's SYSCONFDIR, rebuilt when it changes.
$(OBJ)/vtl/main.o: $(SYSCONF_STAMP)
$(OBJ)/vtl/main.o: CPPFLAGS += -DVTL_DEFAULT_CONF=\"$(SYSCONF_BUILT)/openped/openped-pkcs11.conf\"
$(eval $(call program,vtl,vtl/main.c vtl/verify.c,))

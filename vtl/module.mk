# vtl: the client side's registration tool for network HSMs: its own
# certificate, the servers it trusts (the module's configuration file),
# and a check that each shows its slots.
VTL_SYSCONFDIR := $(or $(SYSCONFDIR),$(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc))
$(OBJ)/vtl/main.o: CPPFLAGS += -DVTL_DEFAULT_CONF=\"$(VTL_SYSCONFDIR)/openped/openped-pkcs11.conf\"
$(eval $(call program,vtl,vtl/main.c vtl/verify.c,))

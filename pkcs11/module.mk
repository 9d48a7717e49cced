# pkcs11: libopenped-pkcs11.so, the PKCS#11 module applications load; a thin
# client of hsm-sim's application protocol (docs/protocol.md, section 13).
# Its code is also libp11mod.a for the unit tests (tests/unit/test_pkcs11.c).
P11_SRCS := pkcs11/main.c pkcs11/calls.c pkcs11/conn.c pkcs11/config.c pkcs11/slots.c \
            pkcs11/lock.c pkcs11/rv.c pkcs11/defer.c

# The default configuration file: SYSCONFDIR/openped, as make install puts
# it; rebuilt when the build's SYSCONFDIR changes (the stamp, as fileio.o).
$(OBJ)/pic/pkcs11/config.o: $(SYSCONF_STAMP)
$(OBJ)/pic/pkcs11/config.o: CPPFLAGS += -DP11_DEFAULT_CONF=\"$(SYSCONF_BUILT)/openped/openped-pkcs11.conf\"

$(eval $(call static_pic_lib,p11mod,$(P11_SRCS)))
P11_LIBS := $(shell $(PKG_CONFIG) --libs libssl libcrypto libconfig 2>/dev/null) -lpthread
$(eval $(call shared_module,libopenped-pkcs11,$(P11_SRCS),pkcs11/exports.map,$(P11_LIBS)))

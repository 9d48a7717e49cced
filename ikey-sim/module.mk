# ikey-sim: the iKey library (libikey) and the ikey tool.
CPPFLAGS     += -Iikey-sim/include

$(eval $(call static_lib,ikey,$(wildcard ikey-sim/lib/*.c)))
$(eval $(call program,ikey,ikey-sim/ikey.c,ikey))

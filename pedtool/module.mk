# pedtool: one file per sub-command (cmd_*.c), registered by constructor, and
# libpedtool: the legacy channel (legacy.c), which only pedtool runs; its unit
# tests and the handshake fuzz target link it too.
$(eval $(call static_lib,pedtool,pedtool/legacy.c))
$(eval $(call program,pedtool,pedtool/main.c $(wildcard pedtool/cmd_*.c),pedtool hsm))

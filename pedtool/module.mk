# pedtool: one file per sub-command (cmd_*.c), registered by constructor.
$(eval $(call program,pedtool,pedtool/main.c $(wildcard pedtool/cmd_*.c),))

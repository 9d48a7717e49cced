# pedserver: the command line (main.c), its background process (server.c),
# the PED on USB (usb.c) and PED-initiated mode's appliances and client
# certificate (appliance.c).
PEDSERVER_SRCS := pedserver/main.c pedserver/server.c pedserver/appliance.c pedserver/usb.c
ALL_OBJS       += $(PEDSERVER_SRCS:%.c=$(OBJ)/%.o)

$(eval $(call program,pedserver,$(PEDSERVER_SRCS),))

# pedclient: the command line and PED id mappings (main.c, mappings.c) and
# its background process (client.c).
PEDCLIENT_SRCS := pedclient/main.c pedclient/client.c pedclient/mappings.c pedclient/auditlog.c
ALL_OBJS       += $(PEDCLIENT_SRCS:%.c=$(OBJ)/%.o)

$(eval $(call program,pedclient,$(PEDCLIENT_SRCS),))

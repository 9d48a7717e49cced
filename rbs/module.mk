# rbs: the Remote Backup Service, serving this host's Backup HSMs (its
# hsm-sim's) to registered clients over TLS. librbs holds what its fuzz
# target and unit tests reach (rbs.conf, the password, the slot list scan).
$(eval $(call static_lib,rbs,rbs/conf.c))
$(eval $(call program,rbs,rbs/main.c rbs/daemon.c,rbs hsm))

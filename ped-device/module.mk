# ped-device: the PED emulator (ncurses and headless). Its dialogue code is
# also linked into the unit tests.
PED_DEVICE_LIB_SRCS := ped-device/device.c ped-device/dialog.c ped-device/ceremony.c ped-device/remote.c \
                       ped-device/modes.c ped-device/admin.c ped-device/rpk_cache.c ped-device/control.c \
                       ped-device/script.c ped-device/policy.c ped-device/answerer.c ped-device/transcript.c

$(eval $(call static_lib,peddevice,$(PED_DEVICE_LIB_SRCS)))
$(eval $(call program,ped-device,ped-device/tui.c ped-device/main.c,peddevice ikey))

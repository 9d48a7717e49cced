/* The ncurses body of the PED: display, keypad (keyboard and mouse) and the
 * iKey port with a key picker. Works in 80x24, redraws on resize, and gives
 * the terminal back on every exit. */
#ifndef PED_DEVICE_TUI_H
#define PED_DEVICE_TUI_H

#include "device.h"

/* Runs until the operator quits (F10 or q) or a signal; returns the exit status. */
int tui_run(struct ped_device *d);

#endif

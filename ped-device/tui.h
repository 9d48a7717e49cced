/* The ncurses body of the PED: display, keypad (keyboard and mouse) and the
 * iKey port with a key picker. Works in 80x24, redraws on resize, and gives
 * the terminal back on every exit. */
#ifndef PED_DEVICE_TUI_H
#define PED_DEVICE_TUI_H

#include "device.h"

#include <stddef.h>

/* 1 if the terminal TERM names can carry the PED's screen; else 0 with why
 * (TERM unset, unknown, dumb): checked before anything starts, so the PED
 * says so instead of dying in initscr or drawing a garbled screen. */
int tui_terminal_usable(char *why, size_t len);

/* Runs until the operator quits (F10 or q) or a signal; returns the exit
 * status. notes (or NULL): a file whose last three lines are shown under the
 * key list, so an operator at this terminal sees what the HSM's shell says
 * (the one-time password, the HSM's identity) as it says it. */
int tui_run(struct ped_device *d, const char *notes);

#endif

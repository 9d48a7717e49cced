/* The PED's control socket: lets tests and tools read the screen and work
 * the keypad and key port without a terminal. One request line per
 * connection, answered and closed:
 *   screen            the 8 lines
 *   prompt            "PROMPT KEYTYPE" (what the PED waits for)
 *   press KEY...      keypad keys (0-9 yes no enter clear < > back log)
 *   insert SERIAL | remove | hold-clear
 * Answers end with a line "ok" or "error: why". */
#ifndef PED_DEVICE_CONTROL_H
#define PED_DEVICE_CONTROL_H

#include "device.h"

struct control;

int control_start(struct ped_device *d, const char *path, struct control **out);
void control_stop(struct control *c);
/* Client side: sends one request, prints the answer to stdout; exit status. */
int control_request(const char *path, const char *request);

#endif

/* Where an operation's output goes: lines for the person or program that
 * asked, whatever carries them. hsmcm's shell frames each line on the
 * control socket (session.c); another front end may collect them or drop
 * them. Nothing below the session layer knows which. */
#ifndef HSM_SIM_OUT_H
#define HSM_SIM_OUT_H

#define SIM_OUT_LINE_MAX 4096 /* a longer line is cut */

struct sim_out {
	void (*line)(void *arg, const char *text); /* NULL: the output is dropped */
	void *arg;
};

/* One line (no newline needed). */
void sim_outf(const struct sim_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

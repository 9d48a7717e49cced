/* Partition policy templates (chapter 6, "Setting Partition Policies Using
 * a Template"): text files of lines
 *
 *   # Policy template FW Version 0.1.0
 *   # Field format - Policy ID:Policy Description:Policy Value:Off to on destructive:On to off destructive
 *   # Sourced from partition: myPartition1, SN: 154438865290
 *
 *   0:"Allow private key cloning":1:1:0
 *
 * '#' lines are comments; an entry gives a policy's number (what counts),
 * its description (for people only), its value (0-255) and whether turning
 * it on, and off, will erase the partition's objects (0 or 1). A policy the
 * template leaves out takes its default, value and directions. Applied at
 * partition init only. */
#ifndef HSM_TEMPLATE_H
#define HSM_TEMPLATE_H

#include "hsm/hsm.h"

#include <stddef.h>
#include <stdint.h>

#define HSM_PPT_MAX 16384     /* bytes of a template file */
#define HSM_PPT_LINE_MAX 512  /* bytes of one of its lines */

struct hsm_ppt {
	size_t n;
	struct {
		uint8_t number;
		uint8_t erase; /* HSM_ERASE_* */
		uint32_t value;
	} e[HSM_KP_SLOTS];
};

/* Parses a template, bounded: PED_E_INVALID and why ("line 7: ...") for a
 * malformed line, a policy this HSM's partitions do not have, one given
 * twice, a value over 255 or a direction other than 0 or 1. */
int hsm_ppt_parse(const char *text, size_t len, struct hsm_ppt *t, char *why, size_t whylen);
/* p (its policies at their defaults: a partition being initialized) takes
 * the template's values and destructive directions, all or nothing:
 * PED_E_ACTION_PROHIBITED with policies 0 and 1 both on, PED_E_INVALID (why)
 * for policy 1 not destructive OFF-to-ON (chapter 6: initialization fails)
 * or a value out of its policy's range. */
int hsm_ppt_apply(struct hsm_partition *p, const struct hsm_ppt *t, char *why, size_t whylen);
/* p's policies as a template (OPENSSL_malloc'd text): the header, with
 * "Sourced from partition: LABEL, SN: SERIAL" (blank for an uninitialized
 * partition), then every policy it has, in number order. */
int hsm_ppt_export(const struct hsm_partition *p, const char *serial, char **out, size_t *len);

#endif

#include "unit.h"

#include "hsm/control.h"
#include "ped/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cmds {
	char got[8][64];
	int n, stop_at;
};

static int collect(void *arg, char *cmd)
{
	struct cmds *c = arg;
	snprintf(c->got[c->n], sizeof(c->got[0]), "%s", cmd);
	return ++c->n == c->stop_at ? 7 : 0;
}

/* hsmcm -c/-f: the split moved out of hsmcm's main.c keeps its rules */
static void scripts_cut_at_newlines_and_semicolons(void)
{
	char text[] = "  # a comment; not run\r\n\tslot list ;; hsm showinfo\t\r\n\nrole login -name so;x";
	struct cmds c = {.stop_at = -1};
	CU_ASSERT_EQUAL(hsm_ctl_script_each(text, collect, &c), 0);
	CU_ASSERT_EQUAL_FATAL(c.n, 4);
	CU_ASSERT_STRING_EQUAL(c.got[0], "slot list");
	CU_ASSERT_STRING_EQUAL(c.got[1], "hsm showinfo");
	CU_ASSERT_STRING_EQUAL(c.got[2], "role login -name so");
	CU_ASSERT_STRING_EQUAL(c.got[3], "x");

	char again[] = "a; b; c";
	struct cmds d = {.stop_at = 2};
	CU_ASSERT_EQUAL(hsm_ctl_script_each(again, collect, &d), 7); /* stops at the first failure */
	CU_ASSERT_EQUAL(d.n, 2);
}

static void words_split_at_blanks_and_keep_quoted_spaces(void)
{
	char line[] = " role  createchallenge -challenge \"open sesame\" -name\tco \"\"";
	char *argv[8];
	CU_ASSERT_EQUAL_FATAL(hsm_ctl_split_words(line, argv, 8), 7);
	CU_ASSERT_STRING_EQUAL(argv[0], "role");
	CU_ASSERT_STRING_EQUAL(argv[3], "open sesame");
	CU_ASSERT_STRING_EQUAL(argv[5], "co");
	CU_ASSERT_STRING_EQUAL(argv[6], ""); /* an empty quoted word is a word */
	char line2[] = "a \"b c";
	CU_ASSERT_EQUAL_FATAL(hsm_ctl_split_words(line2, argv, 8), 2);
	CU_ASSERT_STRING_EQUAL(argv[1], "b c"); /* an open quote runs to the end */
	char line3[] = "a b c";
	CU_ASSERT_EQUAL(hsm_ctl_split_words(line3, argv, 2), -1);
}

static void secrets_stay_out_of_the_history(void)
{
	static const char *const secret[] = {
		"role login -name co -password 1234",   "role login -name co -PASSWORD 1234",
		"role login -name co -pwd 1234",        "role login -name co -p 1234",
		"role createchallenge -c abc -name co", "role createchallenge -chal abc -name co",
		"role login -n co --password=1234",     "slot list; role login -pass 1 -n co",
		"ped connect -pw",                      "role login -name co \"-password\" x",
		/* the reference's spelling, and mistyped options the parser refuses */
		"role createchallenge -name co -challengeSecret abc", "role login -name co -passwrod 1234",
		"role login -name co -newpw 1234",
		/* hsm-sim's words: a quote ends a word, the option glued to it is the next */
		"role login -name \"co\"-challenge 1234", "ped connect -ip \"x\"-password 12345678",
		"role login -name co \"\"-p 1234", "ped connect -ip x \"-pwd\"", "role login -n \"co\"-CHALLENGESECRET=x",
		"role login -name co --Pa=1234", "role login -name co -c=1234", "role login -name co\t-challenge\vabc",
		/* an object's value is for the HSM only */
		"object create -label o -value s3cret", "OBJECT create -l o -VAL s3cret", "object create -v=s3cret",
		/* partition archive's secrets, and option names without their dash */
		"partition archive restore -slot 20 -partition bk -password ClientPassword",
		"par ar backup -slot 2 -sopassword backupSOpwd", "par ar b -s 2 -domain clientdomain",
		"role login -name co password 1234", "role createchallenge -name co challenge abc",
		"object create -label o value s3cret",
	};
	static const char *const plain[] = {"slot list", "role login -name co", "ped connect -ip 127.0.0.1 -port 0",
					    "partition create -label pc", "hsm showinfo",
					    "partition changepolicy -policy 15 -value 0", "ped set -ip 10.0.0.1 -port 9697", "",
					    /* a quote inside a word does not start a word: one value */
					    "role login -name co\"-password", "partition create -label \"my -password\"",
					    "object create -label o", "hsm changepolicy -policy 15 -value 1",
					    /* lunacm's forms that carry nothing secret */
					    "slot set slot 1", "ped connect ip 192.20.10.190", "role login -name Crypto Officer",
					    "ped c -ip 10.0.0.1", "par ar r -slot 20 -partition bk -replace"};
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		CU_ASSERT_TRUE(hsm_ctl_line_has_secret(secret[i]));
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		CU_ASSERT_FALSE(hsm_ctl_line_has_secret(plain[i]));
}

/* hsmcm's prompt: a line is read whole or refused whole, and the next line
 * is read as it was typed (fgets cut a long one into two commands) */
static void lines_over_the_limit_are_refused_whole(void)
{
	enum { MAX = HSM_CTL_LINE_MAX - 1 };
	size_t cap = 3 * HSM_CTL_LINE_MAX + 64, off = 0, len;
	char *in = malloc(cap), line[HSM_CTL_LINE_MAX];
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(in);
	memset(in + off, 'a', MAX); /* the longest line */
	off += MAX;
	in[off++] = '\n';
	memset(in + off, 'b', MAX + 1); /* one too long: its tail was a command */
	off += MAX + 1;
	in[off++] = '\n';
	memcpy(in + off, "slot list\nx\0y\n\n", 15);
	off += 15;
	memset(in + off, 'c', MAX + 9); /* too long, at the end without a newline */
	off += MAX + 9;
	CU_ASSERT_FATAL(off <= cap);
	f = fmemopen(in, off, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(hsm_ctl_read_line(f, line, sizeof(line), &len), PED_OK);
	CU_ASSERT_EQUAL(len, MAX);
	CU_ASSERT_EQUAL(strlen(line), MAX);
	CU_ASSERT_EQUAL(hsm_ctl_read_line(f, line, sizeof(line), &len), PED_E_RANGE);
	CU_ASSERT_EQUAL(len, MAX + 1);
	CU_ASSERT_EQUAL(memchr(line, 'b', sizeof(line)), NULL); /* nothing of it kept */
	CU_ASSERT_EQUAL(hsm_ctl_read_line(f, line, sizeof(line), &len), PED_OK);
	CU_ASSERT_STRING_EQUAL(line, "slot list");
	CU_ASSERT_EQUAL(hsm_ctl_read_line(f, line, sizeof(line), &len), PED_E_INVALID); /* x NUL y */
	CU_ASSERT_EQUAL(line[0], '\0');
	CU_ASSERT_EQUAL(hsm_ctl_read_line(f, line, sizeof(line), &len), PED_OK);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_STRING_EQUAL(line, "");
	CU_ASSERT_EQUAL(hsm_ctl_read_line(f, line, sizeof(line), &len), PED_E_RANGE);
	CU_ASSERT_EQUAL(len, MAX + 9);
	CU_ASSERT_EQUAL(hsm_ctl_read_line(f, line, sizeof(line), &len), PED_E_CLOSED);
	fclose(f);

	/* a last line without its newline is a line */
	char last[] = "hsm showinfo";
	f = fmemopen(last, strlen(last), "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(hsm_ctl_read_line(f, line, 8, &len), PED_E_RANGE); /* and bounded by size */
	rewind(f);
	CU_ASSERT_EQUAL(hsm_ctl_read_line(f, line, sizeof(line), &len), PED_OK);
	CU_ASSERT_STRING_EQUAL(line, "hsm showinfo");
	CU_ASSERT_EQUAL(hsm_ctl_read_line(f, line, sizeof(line), &len), PED_E_CLOSED);
	fclose(f);
	free(in);
}

/* hsmcm serves hsm-sim a file only if the operator named it in the command. */
static void files_only_as_typed(void)
{
	CU_ASSERT_TRUE(hsm_ctl_path_typed("partition init -label p -applytemplate /tmp/t.ppt", "/tmp/t.ppt"));
	CU_ASSERT_TRUE(hsm_ctl_path_typed("par showpol -export \"my templates/p1\"", "my templates/p1"));
	CU_ASSERT_FALSE(hsm_ctl_path_typed("partition init -label p -applytemplate /tmp/t.ppt", "/etc/passwd"));
	CU_ASSERT_FALSE(hsm_ctl_path_typed("partition init -label p", "-label"));
	CU_ASSERT_FALSE(hsm_ctl_path_typed("partition init", "init"));
	CU_ASSERT_FALSE(hsm_ctl_path_typed("partition init -label x", ""));
	CU_ASSERT_FALSE(hsm_ctl_path_typed("partition init -label x", "/tmp/t.ppt"));
}

/* HSM_CTL_RESTRICT: what rbs sends, hsm-sim reads back; anything else,
 * malformed or widening, is refused whole. */
static void a_restriction_round_trips_and_nothing_else_passes(void)
{
	struct hsm_ctl_restrict a = {2, {"496771", "1234567890123456"}}, b;
	uint8_t buf[HSM_CTL_RESTRICT_LEN_MAX];
	size_t len;

	CU_ASSERT_EQUAL_FATAL(hsm_ctl_restrict_encode(&a, buf, sizeof(buf), &len), PED_OK);
	CU_ASSERT_EQUAL(len, 1 + 1 + 6 + 1 + 16);
	CU_ASSERT_EQUAL_FATAL(hsm_ctl_restrict_decode(buf, len, &b), PED_OK);
	CU_ASSERT_EQUAL(b.n, 2);
	CU_ASSERT_STRING_EQUAL(b.serial[0], "496771");
	CU_ASSERT_TRUE(hsm_ctl_restrict_has(&b, "1234567890123456"));
	CU_ASSERT_FALSE(hsm_ctl_restrict_has(&b, "49677"));
	CU_ASSERT_FALSE(hsm_ctl_restrict_has(NULL, "496771"));
	/* a byte more or less, or a count that lies */
	CU_ASSERT_EQUAL(hsm_ctl_restrict_decode(buf, len - 1, &b), PED_E_INVALID);
	CU_ASSERT_EQUAL(b.n, 0);
	buf[len] = '1';
	CU_ASSERT_EQUAL(hsm_ctl_restrict_decode(buf, len + 1, &b), PED_E_INVALID);
	buf[0] = 3;
	CU_ASSERT_EQUAL(hsm_ctl_restrict_decode(buf, len, &b), PED_E_INVALID);
	buf[0] = 0;
	CU_ASSERT_EQUAL(hsm_ctl_restrict_decode(buf, 1, &b), PED_E_INVALID);
	CU_ASSERT_EQUAL(hsm_ctl_restrict_decode(buf, 0, &b), PED_E_INVALID);
	/* not digits, empty, too long, twice */
	static const uint8_t letters[] = {1, 3, '4', 'x', '6'}, empty[] = {1, 0}, twice[] = {2, 1, '7', 1, '7'};
	uint8_t longer[2 + 17] = {1, 17};
	memset(longer + 2, '1', 17);
	CU_ASSERT_EQUAL(hsm_ctl_restrict_decode(letters, sizeof(letters), &b), PED_E_INVALID);
	CU_ASSERT_EQUAL(hsm_ctl_restrict_decode(empty, sizeof(empty), &b), PED_E_INVALID);
	CU_ASSERT_EQUAL(hsm_ctl_restrict_decode(longer, sizeof(longer), &b), PED_E_INVALID);
	CU_ASSERT_EQUAL(hsm_ctl_restrict_decode(twice, sizeof(twice), &b), PED_E_INVALID);
	/* nor does the encoder make such a frame */
	struct hsm_ctl_restrict bad = {2, {"7", "7"}}, none = {0, {{0}}};
	CU_ASSERT_EQUAL(hsm_ctl_restrict_encode(&bad, buf, sizeof(buf), &len), PED_E_INVALID);
	CU_ASSERT_EQUAL(hsm_ctl_restrict_encode(&none, buf, sizeof(buf), &len), PED_E_INVALID);
	CU_ASSERT_EQUAL(hsm_ctl_restrict_encode(&a, buf, 5, &len), PED_E_RANGE);
}

/* hsmcm across several servers: slot numbers in a server's lines shifted,
 * nothing else touched */
static void slot_numbers_shift_in_output(void)
{
	char out[256];
	CU_ASSERT_EQUAL(hsm_ctl_slot_shift("Slot Id ->              0", 21, out, sizeof(out)), 1);
	CU_ASSERT_STRING_EQUAL(out, "Slot Id ->              21");
	hsm_ctl_slot_shift("Current Slot Id: 0     (OpenPED Backup Slot 0.1.0 (PED) Signing With Cloning Mode)", 21, out,
			   sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "Current Slot Id: 21     (OpenPED Backup Slot 0.1.0 (PED) Signing With Cloning Mode)");
	hsm_ctl_slot_shift("Creating partition bk on slot 0.", 21, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "Creating partition bk on slot 21.");
	hsm_ctl_slot_shift("HSM slot 3 listening to remote PED; slot 4", 100, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "HSM slot 103 listening to remote PED; slot 104");
	CU_ASSERT_EQUAL(hsm_ctl_slot_shift("slots 3, timeslot 4, slot x, slot 5a", 100, out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "slots 3, timeslot 4, slot x, slot 5a");
	CU_ASSERT_EQUAL(hsm_ctl_slot_shift("on slot 7", 0, out, sizeof(out)), 0); /* the first server's: as they are */
	CU_ASSERT_STRING_EQUAL(out, "on slot 7");
	char tiny[8];
	hsm_ctl_slot_shift("on slot 7 and more", 1000, tiny, sizeof(tiny)); /* cut, never overrun */
	CU_ASSERT_STRING_EQUAL(tiny, "on "); /* a slot number is shifted whole or not written */
}

static void slot_option_found_in_its_forms(void)
{
	char l1[] = "ped connect -ip 10.0.0.1 -slot 21", l2[] = "slot set slot 3", l3[] = "partition archive backup -SL=20 -par x",
	     l5[] = "partition archive list -s 22", l6[] = "ped get -slot x";
	char *argv[16];
	int at = -1, slot = -1, argc;

	argc = hsm_ctl_split_words(l1, argv, 16);
	CU_ASSERT_TRUE(hsm_ctl_slot_option(argc, argv, &at, &slot));
	CU_ASSERT_EQUAL(at, 5);
	CU_ASSERT_EQUAL(slot, 21);
	argc = hsm_ctl_split_words(l2, argv, 16);
	CU_ASSERT_TRUE(hsm_ctl_slot_option(argc, argv, &at, &slot));
	CU_ASSERT_EQUAL(at, 3);
	CU_ASSERT_EQUAL(slot, 3);
	argc = hsm_ctl_split_words(l3, argv, 16);
	CU_ASSERT_TRUE(hsm_ctl_slot_option(argc, argv, &at, &slot));
	CU_ASSERT_EQUAL(at, 3);
	CU_ASSERT_EQUAL(slot, 20);
	argc = hsm_ctl_split_words(l5, argv, 16);
	CU_ASSERT_TRUE(hsm_ctl_slot_option(argc, argv, &at, &slot));
	CU_ASSERT_EQUAL(slot, 22);
	argc = hsm_ctl_split_words(l6, argv, 16);
	CU_ASSERT_FALSE(hsm_ctl_slot_option(argc, argv, &at, &slot));
}

UNIT_SUITE(hsm_ctl, NULL, NULL, UNIT_TEST(slot_numbers_shift_in_output), UNIT_TEST(slot_option_found_in_its_forms),
	   UNIT_TEST(files_only_as_typed), UNIT_TEST(scripts_cut_at_newlines_and_semicolons),
	   UNIT_TEST(words_split_at_blanks_and_keep_quoted_spaces), UNIT_TEST(secrets_stay_out_of_the_history),
	   UNIT_TEST(lines_over_the_limit_are_refused_whole),
	   UNIT_TEST(a_restriction_round_trips_and_nothing_else_passes))

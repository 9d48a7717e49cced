#include "unit.h"

#include "ped/error.h"
#include "ped/opts.h"

#include <string.h>

static const char *const modes[] = {"start", "stop", "show", "config", "setid", NULL};

static struct ped_opt table[] = {
	{.name = "mode", .aliases = "m", .kind = PED_OPT_ENUM, .choices = modes, .help = "what to do"},
	{.name = "ip", .kind = PED_OPT_STRING, .arg = "ADDR", .help = "address"},
	{.name = "port", .aliases = "p", .kind = PED_OPT_INT, .min = 0, .max = 65535, .arg = "N"},
	{.name = "pedwritelay", .kind = PED_OPT_INT, .min = 0, .max = 10000, .arg = "US"},
	{.name = "pinginterval", .kind = PED_OPT_INT, .min = 1, .max = 3600},
	{.name = "pingtimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600},
	{.name = "logfilename", .aliases = "logfile", .kind = PED_OPT_STRING},
	{.name = "loginfo", .kind = PED_OPT_BOOL01},
	{.name = "id", .kind = PED_OPT_INT, .min = 0, .max = 65535},
	{.name = "id_ip", .kind = PED_OPT_STRING},
	{.name = "id_port", .kind = PED_OPT_INT, .min = 0, .max = 65535},
	{.name = "set", .kind = PED_OPT_FLAG},
	{.name = "show", .kind = PED_OPT_FLAG},
	{.name = "password", .kind = PED_OPT_OPTIONAL, .arg = "PIN"},
	{.name = "ignoreidletimeout", .kind = PED_OPT_FLAG01},
	{.name = NULL},
};

static char err[256];

static int parse(const char *line, const char **pos, size_t maxpos, size_t *npos)
{
	static char buf[512];
	static char *argv[32];
	int argc = 0;
	strcpy(buf, line);
	argv[argc++] = "prog";
	for (char *t = strtok(buf, " "); t && argc < 32; t = strtok(NULL, " "))
		argv[argc++] = t;
	return ped_opts_parse(table, argc, argv, 1, pos, maxpos, npos, err, sizeof(err));
}

static void documented_lines_parse(void)
{
	CU_ASSERT_EQUAL(parse("-mode start -ip 0.0.0.0 -port 1503", NULL, 0, NULL), PED_OK);
	CU_ASSERT_STRING_EQUAL(ped_opts_str(table, "mode", NULL), "start");
	CU_ASSERT_EQUAL(ped_opts_num(table, "mode", -1), 0);
	CU_ASSERT_STRING_EQUAL(ped_opts_str(table, "ip", NULL), "0.0.0.0");
	CU_ASSERT_EQUAL(ped_opts_num(table, "port", 0), 1503);
	CU_ASSERT_EQUAL(parse("-m start", NULL, 0, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_opts_num(table, "mode", -1), 0);
	CU_ASSERT_EQUAL(parse("-mode setid -id 1 -id_ip 1.2.3.4 -id_port 1503", NULL, 0, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_opts_num(table, "id", -1), 1);
	CU_ASSERT_STRING_EQUAL(ped_opts_str(table, "id_ip", NULL), "1.2.3.4");
	CU_ASSERT_EQUAL(ped_opts_num(table, "id_port", -1), 1503);
	CU_ASSERT_FALSE(ped_opts_seen(table, "ip"));
}

static void names_are_case_insensitive_and_abbreviable(void)
{
	CU_ASSERT_EQUAL(parse("-MODE Show -PeDwRiTeLaY 5", NULL, 0, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_opts_num(table, "mode", -1), 2);
	CU_ASSERT_EQUAL(ped_opts_num(table, "pedwritelay", -1), 5);
	CU_ASSERT_EQUAL(parse("-pedw 7 -logf /tmp/x.log", NULL, 0, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_opts_num(table, "pedwritelay", -1), 7);
	CU_ASSERT_STRING_EQUAL(ped_opts_str(table, "logfilename", NULL), "/tmp/x.log");
	CU_ASSERT_EQUAL(parse("-logfile a.log --port 9", NULL, 0, NULL), PED_OK);
	CU_ASSERT_STRING_EQUAL(ped_opts_str(table, "logfilename", NULL), "a.log");
	CU_ASSERT_EQUAL(ped_opts_num(table, "port", 0), 9);
	/* an exact short form wins over being a prefix of others */
	CU_ASSERT_EQUAL(parse("-p 12", NULL, 0, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_opts_num(table, "port", 0), 12);
	/* "id" is exact even though it prefixes id_ip and id_port */
	CU_ASSERT_EQUAL(parse("-id 3", NULL, 0, NULL), PED_OK);
	/* repeated: the last one wins */
	CU_ASSERT_EQUAL(parse("-port 1 -port 2", NULL, 0, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_opts_num(table, "port", 0), 2);
	/* 0x is hex (USB ids); a leading zero is still decimal, never octal */
	CU_ASSERT_EQUAL(parse("-port 0x1209 -id 010", NULL, 0, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_opts_num(table, "port", 0), 0x1209);
	CU_ASSERT_EQUAL(ped_opts_num(table, "id", 0), 10);
	CU_ASSERT_EQUAL(parse("-port 0x", NULL, 0, NULL), PED_E_OPTION);
	CU_ASSERT_EQUAL(parse("-port 0x-1", NULL, 0, NULL), PED_E_RANGE);
}

static void errors_name_the_problem(void)
{
	CU_ASSERT_EQUAL(parse("-mode config -set -pedwritelay 10001", NULL, 0, NULL), PED_E_RANGE);
	CU_ASSERT_STRING_EQUAL(err, "-pedwritelay: value 10001 out of range (0-10000)");
	CU_ASSERT_EQUAL(parse("-pin 5", NULL, 0, NULL), PED_E_OPTION);
	CU_ASSERT_STRING_EQUAL(err, "-pin is ambiguous: -pinginterval, -pingtimeout");
	CU_ASSERT_EQUAL(parse("-bogus 1", NULL, 0, NULL), PED_E_OPTION);
	CU_ASSERT_STRING_EQUAL(err, "unknown option -bogus (see -help)");
	CU_ASSERT_EQUAL(parse("-ip", NULL, 0, NULL), PED_E_OPTION);
	CU_ASSERT_STRING_EQUAL(err, "-ip needs a value ADDR");
	CU_ASSERT_EQUAL(parse("-port 12x", NULL, 0, NULL), PED_E_OPTION);
	CU_ASSERT_STRING_EQUAL(err, "-port: '12x' is not a number");
	CU_ASSERT_EQUAL(parse("-loginfo 2", NULL, 0, NULL), PED_E_RANGE);
	CU_ASSERT_STRING_EQUAL(err, "-loginfo: value must be 0 or 1, not '2'");
	CU_ASSERT_EQUAL(parse("-mode launch", NULL, 0, NULL), PED_E_OPTION);
	CU_ASSERT_STRING_EQUAL(err, "-mode: 'launch' is not one of start|stop|show|config|setid");
	CU_ASSERT_EQUAL(parse("stray", NULL, 0, NULL), PED_E_OPTION);
	CU_ASSERT_STRING_EQUAL(err, "unexpected argument 'stray'");
	CU_ASSERT_EQUAL(parse("-port 99999999999999999999", NULL, 0, NULL), PED_E_OPTION);
}

static void help_optional_and_positionals(void)
{
	const char *pos[4];
	size_t np = 9;
	CU_ASSERT_EQUAL(parse("-help", NULL, 0, NULL), PED_OPTS_HELP);
	CU_ASSERT_EQUAL(parse("-mode start -?", NULL, 0, NULL), PED_OPTS_HELP);
	CU_ASSERT_EQUAL(parse("-H", NULL, 0, NULL), PED_OPTS_HELP);
	CU_ASSERT_EQUAL(parse("-password -port 1", NULL, 0, NULL), PED_OK);
	CU_ASSERT(ped_opts_seen(table, "password"));
	CU_ASSERT_PTR_NULL(ped_opts_str(table, "password", NULL));
	CU_ASSERT_EQUAL(parse("-password 12345678", NULL, 0, NULL), PED_OK);
	CU_ASSERT_STRING_EQUAL(ped_opts_str(table, "password", NULL), "12345678");
	/* lunacm style: command words first, then options */
	CU_ASSERT_EQUAL(parse("role login -ip x", pos, 4, &np), PED_OK);
	CU_ASSERT_EQUAL(np, 2);
	CU_ASSERT_STRING_EQUAL(pos[0], "role");
	CU_ASSERT_STRING_EQUAL(pos[1], "login");
	CU_ASSERT_EQUAL(parse("a b c d e", pos, 4, &np), PED_E_OPTION);
}

static void peek_finds_the_mode_first(void)
{
	char *argv[] = {"pedserver", "-port", "1", "-M", "stop", NULL};
	CU_ASSERT_STRING_EQUAL(ped_opts_peek(5, argv, "mode", "m"), "stop");
	CU_ASSERT_PTR_NULL(ped_opts_peek(5, argv, "ip", NULL));
}

/* Issue 32, item 5: "-logfile -show" stored the file "-show". */
static void a_value_is_never_the_next_option(void)
{
	CU_ASSERT_EQUAL(parse("-mode config -set -logfile -show", NULL, 0, NULL), PED_E_OPTION);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "-logfilename needs a value"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "-logfilename=-show"));
	/* a prefix, another spelling or help is an option too */
	CU_ASSERT_EQUAL(parse("-ip -sh", NULL, 0, NULL), PED_E_OPTION);
	CU_ASSERT_EQUAL(parse("-ip --PORT", NULL, 0, NULL), PED_E_OPTION);
	CU_ASSERT_EQUAL(parse("-ip -help", NULL, 0, NULL), PED_E_OPTION);
	/* the documented way to give such a value */
	CU_ASSERT_EQUAL(parse("-logfile=-show", NULL, 0, NULL), PED_OK);
	CU_ASSERT_STRING_EQUAL(ped_opts_str(table, "logfilename", NULL), "-show");
	CU_ASSERT_EQUAL(parse("-port=1600 -ip=", NULL, 0, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_opts_num(table, "port", 0), 1600);
	CU_ASSERT_STRING_EQUAL(ped_opts_str(table, "ip", NULL), "");
	CU_ASSERT_EQUAL(parse("-show=1", NULL, 0, NULL), PED_E_OPTION);
	/* what is no option stays a value: numbers, unknown words */
	CU_ASSERT_EQUAL(parse("-ip -nothing -port 1", NULL, 0, NULL), PED_OK);
	CU_ASSERT_STRING_EQUAL(ped_opts_str(table, "ip", NULL), "-nothing");
	CU_ASSERT_EQUAL(parse("-logfile -1", NULL, 0, NULL), PED_OK);
	CU_ASSERT_TRUE(ped_opts_names_option(table, "-MODE"));
	CU_ASSERT_FALSE(ped_opts_names_option(table, "-"));
	CU_ASSERT_FALSE(ped_opts_names_option(table, "value"));
}

/* "-ignoreidletimeout 0" must clear what "-ignoreidletimeout" set. */
static void a_flag_takes_an_optional_0_or_1(void)
{
	CU_ASSERT_EQUAL(parse("-ignoreidletimeout -port 1", NULL, 0, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_opts_num(table, "ignoreidletimeout", -1), 1);
	CU_ASSERT_PTR_NULL(ped_opts_str(table, "ignoreidletimeout", NULL));
	CU_ASSERT_EQUAL(parse("-ignoreidletimeout 0", NULL, 0, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_opts_num(table, "ignoreidletimeout", -1), 0);
	CU_ASSERT_STRING_EQUAL(ped_opts_str(table, "ignoreidletimeout", NULL), "0");
	CU_ASSERT_EQUAL(parse("-ignoreidletimeout=1", NULL, 0, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_opts_num(table, "ignoreidletimeout", -1), 1);
	CU_ASSERT_EQUAL(parse("-ignoreidletimeout=2", NULL, 0, NULL), PED_E_RANGE);
	/* a word that is not 0 or 1 is not its value */
	CU_ASSERT_EQUAL(parse("-ignoreidletimeout 2", NULL, 0, NULL), PED_E_OPTION);
}

UNIT_SUITE(opts, NULL, NULL, UNIT_TEST(documented_lines_parse),
	   UNIT_TEST(names_are_case_insensitive_and_abbreviable), UNIT_TEST(errors_name_the_problem),
	   UNIT_TEST(help_optional_and_positionals), UNIT_TEST(peek_finds_the_mode_first),
	   UNIT_TEST(a_value_is_never_the_next_option), UNIT_TEST(a_flag_takes_an_optional_0_or_1))

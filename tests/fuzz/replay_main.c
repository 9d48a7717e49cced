/* Stand-in for libFuzzer's main, so every fuzz target also builds with the
 * ordinary compiler and make check can replay corpora through it:
 *
 *   NAME [-v] PATH...   each PATH a file, or a directory whose files are fed
 *
 * Each input goes once to LLVMFuzzerTestOneInput. -v names each input on
 * stderr before it runs, so a crash points at its input even when a sanitizer
 * ends the process without unwinding. Inputs are read up to REPLAY_MAX bytes,
 * the bound libFuzzer's default -max_len sits well under. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPLAY_MAX (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int verbose;
static unsigned long runs;

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf, *data;
	size_t n;

	if (!f) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(REPLAY_MAX)) == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, REPLAY_MAX, f);
	if (ferror(f)) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	/* An exact-size copy, so a read past the input is caught as libFuzzer would. */
	if ((data = malloc(n ? n : 1)) == NULL) {
		free(buf);
		return -1;
	}
	memcpy(data, buf, n);
	free(buf);
	if (verbose) {
		fprintf(stderr, "replay: %s\n", path);
		fflush(stderr);
	}
	(void)LLVMFuzzerTestOneInput(data, n);
	free(data);
	runs++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, so runs are reproducible whatever order readdir gives. */
static int replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, path[4096];
	size_t count = 0, cap = 0;
	int rc = 0;

	if (!d) {
		fprintf(stderr, "replay: cannot open %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (count == cap) {
			char **more = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
			if (!more) {
				rc = -1;
				goto out;
			}
			names = more;
		}
		if ((names[count] = strdup(e->d_name)) == NULL) {
			rc = -1;
			goto out;
		}
		count++;
	}
	qsort(names, count, sizeof(*names), cmp_names);
	for (size_t i = 0; i < count && rc == 0; i++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			rc = replay_file(path);
	}
out:
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	int i = 1;

	if (i < argc && !strcmp(argv[i], "-v")) {
		verbose = 1;
		i++;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: %s [-v] FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if ((S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i])) != 0)
			return 1;
	}
	printf("replay: %lu inputs\n", runs);
	return 0;
}

/* Deterministic mutations of a seed corpus for the fuzz smoke test:
 *
 *   fuzz_mutate SEED COUNT OUTDIR FILE...
 *
 * writes OUTDIR/m0000 .. m(COUNT-1), each a seed file (chosen in turn) with
 * one to four mutations: bit flips, byte overwrites with boundary values,
 * truncations, byte insertions, chunk duplications. The same SEED always
 * gives the same files, so a failure in make check reproduces. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED_MAX (64u * 1024)
#define OUT_MAX (2 * SEED_MAX + 64)

static uint64_t rng;

/* xorshift64*: small, portable, the same on every libc */
static uint32_t next(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static size_t below(size_t n)
{
	return n ? next() % n : 0;
}

static size_t mutate(uint8_t *b, size_t n)
{
	static const uint8_t special[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '"', ';', '\n', '=', '{', '}', '-', '@'};
	size_t i, k;

	switch (next() % 6) {
	case 0: /* bit flip */
		if (n)
			b[below(n)] ^= (uint8_t)(1u << (next() % 8));
		break;
	case 1: /* boundary or syntax byte */
		if (n)
			b[below(n)] = special[below(sizeof(special))];
		break;
	case 2: /* truncation */
		n = below(n + 1);
		break;
	case 3: /* insert 1-8 bytes */
		if (n + 8 <= OUT_MAX) {
			k = 1 + below(8);
			i = below(n + 1);
			memmove(b + i + k, b + i, n - i);
			for (size_t j = 0; j < k; j++)
				b[i + j] = (next() & 1) ? special[below(sizeof(special))] : (uint8_t)next();
			n += k;
		}
		break;
	case 4: /* duplicate a chunk in place */
		if (n) {
			i = below(n);
			k = 1 + below(n - i < 64 ? n - i : 64);
			if (n + k <= OUT_MAX) {
				memmove(b + i + k, b + i, n - i);
				n += k;
			}
		}
		break;
	case 5: /* a length or count field gone large */
		if (n >= 2) {
			i = below(n - 1);
			b[i] = 0xff;
			b[i + 1] = (uint8_t)next();
		}
		break;
	}
	return n;
}

int main(int argc, char **argv)
{
	static uint8_t seed[SEED_MAX], out[OUT_MAX];
	char path[4096];
	long count;

	if (argc < 5) {
		fprintf(stderr, "usage: fuzz_mutate SEED COUNT OUTDIR FILE...\n");
		return 2;
	}
	rng = strtoull(argv[1], NULL, 0) * 2654435761u + 1;
	count = strtol(argv[2], NULL, 0);
	for (long m = 0; m < count; m++) {
		const char *src = argv[4 + m % (argc - 4)];
		FILE *f = fopen(src, "rb");
		size_t n;
		if (!f) {
			perror(src);
			return 1;
		}
		n = fread(seed, 1, sizeof(seed), f);
		fclose(f);
		memcpy(out, seed, n);
		for (int k = 1 + (int)below(4); k > 0; k--)
			n = mutate(out, n);
		snprintf(path, sizeof(path), "%s/m%04ld", argv[3], m);
		if ((f = fopen(path, "wb")) == NULL || fwrite(out, 1, n, f) != n || fclose(f) != 0) {
			perror(path);
			return 1;
		}
	}
	return 0;
}

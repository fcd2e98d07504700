/*
 * fuzz_busconf.c - the bus.conf parser (codec_busconf_parse) on untrusted text.
 *
 * The parser must agree with a reference written here from its contract: lines of
 * "key=value" separated by '\n'; empty lines and lines starting with '#' are skipped;
 * a value is 1..20 decimal digits that fit in 64 bits; format <= 1000, writemap 0 or
 * 1, shards 1..16 (1 when absent), unknown keys ignored; format, quota and writemap
 * all required. What it accepts
 * must survive format -> parse; a configuration built from the input must too, and
 * formatting into a short buffer must fail cleanly without writing past it.
 */
#include "codec.h"
#include "fuzz.h"
#include "muster.h"

#include <string.h>

static int ref_value(const char *s, size_t n, uint64_t *v)
{
	uint64_t r = 0;
	size_t i;

	if (n < 1 || n > 20)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (__builtin_mul_overflow(r, 10, &r) ||
		    __builtin_add_overflow(r, (uint64_t)(s[i] - '0'), &r))
			return -1;
	}
	*v = r;
	return 0;
}

static int ref_parse(const char *text, size_t len, struct busconf *c)
{
	const char *p = text, *end = text + len;
	int seen = 0;

	memset(c, 0, sizeof *c);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end, *eq;
		size_t klen;
		uint64_t v;

		if (eol > p && *p != '#') {
			eq = memchr(p, '=', (size_t)(eol - p));
			if (!eq || ref_value(eq + 1, (size_t)(eol - eq - 1), &v) < 0)
				return -1;
			klen = (size_t)(eq - p);
			if (klen == 6 && !strncmp(p, "format", 6)) {
				if (v > 1000)
					return -1;
				c->format = (unsigned)v;
				seen |= 1;
			} else if (klen == 5 && !strncmp(p, "quota", 5)) {
				c->quota = v;
				seen |= 2;
			} else if (klen == 8 && !strncmp(p, "writemap", 8)) {
				if (v > 1)
					return -1;
				c->writemap = (int)v;
				seen |= 4;
			} else if (klen == 6 && !strncmp(p, "shards", 6)) {
				if (v < 1 || v > 16)
					return -1;
				c->shards = (unsigned)v;
			}
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	if (!c->shards)
		c->shards = 1;
	return seen == 7 ? 0 : -1;
}

static int same(const struct busconf *a, const struct busconf *b)
{
	return a->format == b->format && a->quota == b->quota && a->writemap == b->writemap &&
	       a->shards == b->shards;
}

/* Formats c, parses the text back and checks that nothing changed. */
static void check_format(const struct busconf *c)
{
	struct busconf d;
	char buf[256];
	int n = codec_busconf_format(c, buf, sizeof buf);

	CHECK(n > 0 && (size_t)n < sizeof buf && strlen(buf) == (size_t)n);
	CHECK(codec_busconf_parse(buf, (size_t)n, &d) == 0);
	CHECK(same(c, &d));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct busconf c, r;
	char full[256], *small;
	size_t outsz;
	int rc, ref, n;

	rc = codec_busconf_parse((const char *)data, size, &c);
	ref = ref_parse((const char *)data, size, &r);
	CHECK(rc == 0 || rc == MST_ECORRUPT);
	CHECK((rc == 0) == (ref == 0));
	if (rc == 0) {
		CHECK(same(&c, &r));
		CHECK(c.format <= 1000 && (c.writemap == 0 || c.writemap == 1));
		CHECK(c.shards >= 1 && c.shards <= 16);
		check_format(&c);
	}

	/* the same bytes as field values of a configuration */
	c.format = (unsigned)(fuzz_u64(&in) % 1001);
	c.quota = fuzz_u64(&in);
	c.writemap = fuzz_u8(&in) & 1;
	c.shards = 1 + fuzz_u8(&in) % 16;
	check_format(&c);

	/* formatting into a buffer of outsz bytes: all of it, or MST_EINVAL */
	n = codec_busconf_format(&c, full, sizeof full);
	CHECK(n > 0);
	outsz = fuzz_u8(&in) % (size_t)(n + 2);
	small = malloc(outsz ? outsz : 1);
	CHECK(small);
	rc = codec_busconf_format(&c, small, outsz);
	if ((size_t)n < outsz)
		CHECK(rc == n && memcmp(small, full, (size_t)n + 1) == 0);
	else
		CHECK(rc == MST_EINVAL);
	free(small);
	return 0;
}

/*
 * fuzz_cliparse.c - the parsers and JSON writers of the command-line tool
 * (src/cli/util.c) and the name and bus URL checks of the library they lean on.
 *
 * Every input is given to each of them, as a C string or as bytes:
 *  - parse_u64, parse_id, parse_duration and mst_name_check must agree with
 *    references written here from their contracts, and numbers printed the way
 *    muster prints them (ids as %016llx, durations as "5s", "250ms", "1.5") must
 *    parse back to themselves;
 *  - utf8_valid must agree with a decoder built from the table of well-formed
 *    sequences of the Unicode standard (table 3-7);
 *  - json_str must write a JSON string that decodes back to the exact input bytes;
 *    json_payload a string payload or null plus base64 that decodes to the input;
 *  - mst_bus_locate must resolve "local:NAME", bare names and paths as documented
 *    (a bare name is a directory under the base, so "." and ".." are refused), and
 *    never write past a short buffer. It looks at the file system only for a
 *    bare name, and then at $MUSTER_HOME, which this harness points at a private
 *    directory made once per process (removed at exit), so no other directory is
 *    created or touched. If that directory is not usable (too little free space),
 *    bare names are skipped rather than let the fallback chain create directories.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "fuzz.h"
#include "muster.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

static char home[64];
static int home_ok;

static void home_remove(void)
{
	rmdir(home);
}

/* Points $MUSTER_HOME at a fresh private directory and checks that it is usable. */
static void home_init(void)
{
	const char *t = getenv("TMPDIR");
	char dir[PATH_MAX], want[PATH_MAX + 16];

	if (home[0])
		return;
	snprintf(home, sizeof home, "%s/muster-fuzz-XXXXXX",
	         (t && *t && strlen(t) < 32) ? t : "/tmp");
	CHECK(mkdtemp(home));
	atexit(home_remove);
	CHECK(setenv("MUSTER_HOME", home, 1) == 0);
	CHECK(unsetenv("MUSTER_BUS") == 0);
	snprintf(want, sizeof want, "%s/default", home);
	home_ok =
	    mst_bus_locate("default", dir, sizeof dir, NULL, 0) == 0 && strcmp(dir, want) == 0;
	if (!home_ok)
		fprintf(stderr, "fuzz_cliparse: %s not usable; bare bus names skipped\n", home);
}

static int ref_u64(const char *s, uint64_t *v)
{
	uint64_t r = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (__builtin_mul_overflow(r, 10, &r) ||
		    __builtin_add_overflow(r, (uint64_t)(*s - '0'), &r))
			return -1;
	}
	*v = r;
	return 0;
}

static int hexval(char c)
{
	const char *digits = "0123456789abcdef", *p;

	if (c >= 'A' && c <= 'F')
		c = (char)(c - 'A' + 'a');
	p = c ? strchr(digits, c) : NULL;
	return p ? (int)(p - digits) : -1;
}

static int ref_id(const char *s, uint64_t *id)
{
	size_t n = strlen(s), i;
	uint64_t r = 0;

	if (n < 1 || n > 16)
		return -1;
	for (i = 0; i < n; i++) {
		int d = hexval(s[i]);
		if (d < 0)
			return -1;
		r = r * 16 + (uint64_t)d;
	}
	*id = r;
	return 0;
}

/* DIGITS[.DIGITS][s|ms|m|h]; seconds when no unit; at most 1e9 whole units; the
 * fraction counts to its sixth digit; "forever", "inf" and "-1" are -1. */
static int ref_duration(const char *s, int64_t *ms)
{
	unsigned __int128 whole = 0;
	uint64_t frac = 0, scale = 1, mult;
	int k = 0;

	if (!strcmp(s, "forever") || !strcmp(s, "inf") || !strcmp(s, "-1")) {
		*ms = -1;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9') {
		if (whole <= 1000000000ull)
			whole = whole * 10 + (unsigned)(*s - '0');
		s++;
	}
	if (whole > 1000000000ull)
		return -1;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -1;
		for (; *s >= '0' && *s <= '9'; s++, k++) {
			if (k < 6) {
				frac = frac * 10 + (uint64_t)(*s - '0');
				scale *= 10;
			}
		}
	}
	if (!strcmp(s, "") || !strcmp(s, "s"))
		mult = 1000;
	else if (!strcmp(s, "ms"))
		mult = 1;
	else if (!strcmp(s, "m"))
		mult = 60000;
	else if (!strcmp(s, "h"))
		mult = 3600000;
	else
		return -1;
	*ms = (int64_t)(whole * mult + frac * mult / scale);
	return 0;
}

static int ref_name(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= MST_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == n;
}

/* Unicode 15, table 3-7: the well-formed UTF-8 byte sequences. */
static bool ref_utf8(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i], lo = 0x80, hi = 0xbf;
		size_t n, k;

		if (c <= 0x7f) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (k = 2; k <= n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += n + 1;
	}
	return true;
}

/* Decodes the JSON string at o[0..ol) (quotes included, nothing after) into a
 * malloc'ed buffer; aborts when it is not one. */
static uint8_t *json_decode(const char *o, size_t ol, size_t *outlen)
{
	uint8_t *d = malloc(ol ? ol : 1);
	size_t i, n = 0;

	CHECK(d);
	CHECK(ol >= 2 && o[0] == '"' && o[ol - 1] == '"');
	for (i = 1; i < ol - 1; i++) {
		unsigned char c = (unsigned char)o[i];
		CHECK(c >= 0x20 && c != '"');
		if (c != '\\') {
			d[n++] = c;
			continue;
		}
		CHECK(i + 1 < ol - 1);
		c = (unsigned char)o[++i];
		switch (c) {
		case '"':
		case '\\':
		case '/':
			d[n++] = c;
			break;
		case 'b':
			d[n++] = '\b';
			break;
		case 'f':
			d[n++] = '\f';
			break;
		case 'n':
			d[n++] = '\n';
			break;
		case 'r':
			d[n++] = '\r';
			break;
		case 't':
			d[n++] = '\t';
			break;
		case 'u': {
			unsigned v = 0, k;
			CHECK(i + 4 < ol - 1);
			for (k = 1; k <= 4; k++) {
				int h = hexval(o[i + k]);
				CHECK(h >= 0);
				v = v * 16 + (unsigned)h;
			}
			/* json_str escapes control bytes only; a byte above 0x7f goes raw */
			CHECK(v < 0x80);
			d[n++] = (uint8_t)v;
			i += 4;
			break;
		}
		default:
			CHECK(!"invalid escape");
		}
	}
	*outlen = n;
	return d;
}

static int b64val(char c)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(tab, c) : NULL;

	return p ? (int)(p - tab) : -1;
}

/* Checks that s[0..n) is the padded base64 of data[0..len). */
static void check_base64(const char *s, size_t n, const uint8_t *data, size_t len)
{
	size_t i, o = 0;

	CHECK(n == (len + 2) / 3 * 4);
	for (i = 0; i < n; i += 4) {
		int v[4], k, pad = 0;
		uint32_t w = 0;
		for (k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else {
				CHECK(pad == 0);
				v[k] = b64val(s[i + k]);
				CHECK(v[k] >= 0);
			}
			w = w << 6 | (uint32_t)v[k];
		}
		for (k = 0; k < 3 - pad; k++) {
			CHECK(o < len && data[o] == (uint8_t)(w >> (16 - 8 * k)));
			o++;
		}
		/* the bits a padded group drops must be zero */
		CHECK(pad == 0 || (w & ((1u << (8 * pad)) - 1)) == 0);
	}
	CHECK(o == len);
}

static void check_json(const uint8_t *data, size_t size)
{
	static const char text[] = "\"payload\":", bin[] = "\"payload\":null,\"payload_base64\":";
	char *o = NULL;
	size_t ol = 0, dl;
	uint8_t *d;
	FILE *f;

	CHECK((f = open_memstream(&o, &ol)));
	json_str(f, (const char *)data, size);
	CHECK(fclose(f) == 0);
	d = json_decode(o, ol, &dl);
	CHECK(dl == size && memcmp(d, data, size) == 0);
	CHECK(!ref_utf8(data, size) || ref_utf8((const uint8_t *)o, ol));
	free(d);
	free(o);

	o = NULL;
	CHECK((f = open_memstream(&o, &ol)));
	json_payload(f, data, size);
	CHECK(fclose(f) == 0);
	if (ref_utf8(data, size) && !memchr(data, 0, size)) {
		CHECK(ol >= sizeof text - 1 && !memcmp(o, text, sizeof text - 1));
		d = json_decode(o + sizeof text - 1, ol - (sizeof text - 1), &dl);
		CHECK(dl == size && memcmp(d, data, size) == 0);
		free(d);
	} else {
		CHECK(ol >= sizeof bin + 1 && !memcmp(o, bin, sizeof bin - 1));
		CHECK(o[sizeof bin - 1] == '"' && o[ol - 1] == '"');
		check_base64(o + sizeof bin, ol - sizeof bin - 1, data, size);
	}
	free(o);
}

static void check_numbers(struct fuzz_in *in)
{
	uint64_t id = fuzz_u64(in), w = fuzz_u64(in) % 1000000001ull, v;
	unsigned frac = fuzz_u8(in) % 100 * 10;
	int64_t ms;
	char buf[64];

	frac += fuzz_u8(in) % 10;

	snprintf(buf, sizeof buf, "%016llx", (unsigned long long)id);
	CHECK(parse_id(buf, &v) == 0 && v == id);
	snprintf(buf, sizeof buf, "%llX", (unsigned long long)id);
	CHECK(parse_id(buf, &v) == 0 && v == id);
	snprintf(buf, sizeof buf, "0%016llx", (unsigned long long)id);
	CHECK(parse_id(buf, &v) < 0);
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)id);
	CHECK(parse_u64(buf, &v) == 0 && v == id);

	snprintf(buf, sizeof buf, "%llu", (unsigned long long)w);
	CHECK(parse_duration(buf, &ms) == 0 && ms == (int64_t)w * 1000);
	snprintf(buf, sizeof buf, "%llus", (unsigned long long)w);
	CHECK(parse_duration(buf, &ms) == 0 && ms == (int64_t)w * 1000);
	snprintf(buf, sizeof buf, "%llums", (unsigned long long)w);
	CHECK(parse_duration(buf, &ms) == 0 && ms == (int64_t)w);
	snprintf(buf, sizeof buf, "%llum", (unsigned long long)w);
	CHECK(parse_duration(buf, &ms) == 0 && ms == (int64_t)w * 60000);
	snprintf(buf, sizeof buf, "%lluh", (unsigned long long)w);
	CHECK(parse_duration(buf, &ms) == 0 && ms == (int64_t)w * 3600000);
	snprintf(buf, sizeof buf, "%llu.%03u", (unsigned long long)w, frac);
	CHECK(parse_duration(buf, &ms) == 0 && ms == (int64_t)w * 1000 + frac);
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)w + 1000000000ull);
	CHECK(parse_duration(buf, &ms) == (w ? -1 : 0));
}

/* A bare bus name becomes a directory under the base: "." and ".." would not be one. */
static int ref_bus_name(const char *s)
{
	return ref_name(s) && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static void check_locate(const char *s)
{
	const char *url = *s ? s : "local:default", *u = url;
	char dir[PATH_MAX], why[512], want[PATH_MAX + 200], *sdir, *swhy;
	size_t len = strlen(s), dirsz = len % 97 + 1, whysz = len % 13 + 1;
	int local = !strncmp(url, "local:", 6), rc, rc2;

	if (local)
		u += 6;
	if (!home_ok && !strchr(u, '/') && ref_bus_name(u))
		return;
	rc = mst_bus_locate(s, dir, sizeof dir, why, sizeof why);
	CHECK(memchr(why, 0, sizeof why));
	if (!local && strstr(url, "://")) {
		CHECK(rc == MST_EURL);
	} else if (strchr(u, '/')) {
		if (strlen(u) < sizeof dir)
			CHECK(rc == 0 && !strcmp(dir, u));
		else
			CHECK(rc == -ENAMETOOLONG);
	} else if (!ref_bus_name(u)) {
		CHECK(rc == MST_EURL);
	} else {
		snprintf(want, sizeof want, "%s/%s", home, u);
		CHECK(rc == 0 && !strcmp(dir, want));
	}

	/* short buffers of exactly their size: truncation is an error, never an overrun */
	sdir = malloc(dirsz);
	swhy = malloc(whysz);
	CHECK(sdir && swhy);
	rc2 = mst_bus_locate(s, sdir, dirsz, swhy, whysz);
	CHECK(memchr(swhy, 0, whysz));
	if (rc == 0 && strlen(dir) >= dirsz)
		CHECK(rc2 == -ENAMETOOLONG);
	else
		CHECK(rc2 == rc && (rc < 0 || !strcmp(sdir, dir)));
	CHECK(mst_bus_locate(s, sdir, dirsz, NULL, 0) == rc2);
	CHECK(mst_bus_locate(s, sdir, 0, NULL, 0) == MST_EINVAL);
	free(sdir);
	free(swhy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	char *s = malloc(size + 1);
	uint64_t v, rv;
	int64_t ms, rms;
	int rc, ref;

	home_init();
	CHECK(s);
	memcpy(s, data, size);
	s[size] = 0;

	rc = parse_u64(s, &v);
	ref = ref_u64(s, &rv);
	CHECK(rc == ref && (rc < 0 || v == rv));
	rc = parse_id(s, &v);
	ref = ref_id(s, &rv);
	CHECK(rc == ref && (rc < 0 || v == rv));
	rc = parse_duration(s, &ms);
	ref = ref_duration(s, &rms);
	CHECK(rc == ref && (rc < 0 || ms == rms));
	CHECK(rc < 0 || ms >= -1);
	CHECK((mst_name_check(s) == 0) == ref_name(s));
	CHECK(utf8_valid(data, size) == ref_utf8(data, size));
	check_json(data, size);
	check_locate(s);
	check_numbers(&in);
	free(s);
	return 0;
}

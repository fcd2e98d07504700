/*
 * cmd_kv.c - muster kv get|set|cas|del|purge|list|watch.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static int key_ok(const char *key)
{
	if (mst_name_check(key) < 0)
		return die(EXIT_USAGE, "invalid key '%.200s' (allowed: [A-Za-z0-9._:-]{1,128})",
			   key);
	return 0;
}

static void print_kv(const mst_kv *kv, bool json)
{
	if (json) {
		printf("{\"key\":");
		json_str(stdout, kv->key, strlen(kv->key));
		printf(",\"rev\":%llu,", (unsigned long long)kv->rev);
		if (kv->rev)
			json_payload(stdout, kv->value, kv->len);
		else
			printf("\"payload\":null,\"deleted\":true");
		printf("}\n");
	} else if (kv->rev) {
		fwrite(kv->value, 1, kv->len, stdout);
		putchar('\n');
	} else {
		printf("(deleted)\n");
	}
}

/* The value: the argument at pos when given, else stdin. */
static int value_of(int argc, char **argv, int pos, char **data, size_t *len)
{
	uint64_t pm = MST_PAYLOAD_MAX_DEFAULT, v;
	const char *e = getenv("MUSTER_PAYLOAD_MAX");
	int rc;

	if (e && *e && parse_u64(e, &v) == 0 && v)
		pm = v;
	if (pos < argc) {
		*len = strlen(argv[pos]);
		if (*len > pm)
			return die(EXIT_TOOBIG, "value of %zu bytes is above the limit of %llu",
				   *len, (unsigned long long)pm);
		*data = strdup(argv[pos]);
		return *data ? 0 : die(EXIT_SYSTEM, "out of memory");
	}
	rc = read_all(0, pm, data, len);
	if (rc == -EFBIG)
		return die(EXIT_TOOBIG, "value on stdin is above the limit of %llu bytes",
			   (unsigned long long)pm);
	return rc < 0 ? fail(rc, "cannot read stdin") : 0;
}

int cmd_kv(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {{"json", no_argument, 0, 'j'},
					   {"since", required_argument, 0, 's'},
					   {"wait", required_argument, 0, 'w'},
					   {"follow", no_argument, 0, 'F'},
					   {0, 0, 0, 0}};
	bool json = false, follow = false;
	uint64_t since = 0, rev;
	int64_t wait_ms = -1;
	const char *op;
	char *data = NULL;
	size_t len = 0;
	mst_bus *bus;
	mst_kv kv;
	int o, rc, code, nargs;
	char **a;

	if (argc < 2)
		return die(EXIT_USAGE, "usage: muster kv get|set|cas|del|purge|list|watch ...");
	op = argv[1];
	optind = 0;
	while ((o = getopt_long(argc - 1, argv + 1, ":", lo, NULL)) != -1) {
		switch (o) {
		case 'j':
			json = true;
			break;
		case 's':
			if (parse_u64(optarg, &since) < 0)
				return die(EXIT_USAGE, "invalid --since '%s'", optarg);
			break;
		case 'w':
			if (parse_duration(optarg, &wait_ms) < 0)
				return die(EXIT_USAGE, "invalid --wait '%s'", optarg);
			break;
		case 'F':
			follow = true;
			break;
		default:
			return die(EXIT_USAGE, "kv: unknown option or missing value '%s'",
				   argv[optind]);
		}
	}
	a = argv + 1 + optind;
	nargs = argc - 1 - optind;

	if (!strcmp(op, "get")) {
		if (nargs != 1)
			return die(EXIT_USAGE, "usage: muster kv get KEY [--json]");
		if ((code = key_ok(a[0])) || (code = cli_open(cli, CLI_EXISTING, &bus)))
			return code;
		rc = mst_kv_get(bus, a[0], &kv);
		mst_bus_close(bus);
		if (rc < 0)
			return fail(rc, "cannot get '%s'", a[0]);
		print_kv(&kv, json);
		mst_kv_free(&kv);
		return EXIT_OK;
	}
	if (!strcmp(op, "set") || !strcmp(op, "cas")) {
		bool cas = op[0] == 'c';
		uint64_t expected = 0;
		int vpos = cas ? 2 : 1;

		if (nargs < vpos || nargs > vpos + 1)
			return die(EXIT_USAGE, cas ? "usage: muster kv cas KEY REV [VALUE]"
						   : "usage: muster kv set KEY [VALUE]");
		if ((code = key_ok(a[0])))
			return code;
		if (cas && parse_u64(a[1], &expected) < 0)
			return die(EXIT_USAGE, "invalid revision '%s'", a[1]);
		if ((code = value_of(nargs, a, vpos, &data, &len)))
			return code;
		if ((code = cli_open(cli, 0, &bus))) {
			free(data);
			return code;
		}
		rc = cas ? mst_kv_cas(bus, a[0], expected, data, len, &rev)
			 : mst_kv_set(bus, a[0], data, len, &rev);
		free(data);
		mst_bus_close(bus);
		if (rc < 0)
			return fail(rc, "cannot set '%s'", a[0]);
		if (json)
			printf("{\"rev\":%llu}\n", (unsigned long long)rev);
		else
			printf("%llu\n", (unsigned long long)rev);
		return EXIT_OK;
	}
	if (!strcmp(op, "del")) {
		if (nargs != 1)
			return die(EXIT_USAGE, "usage: muster kv del KEY");
		if ((code = key_ok(a[0])) || (code = cli_open(cli, CLI_EXISTING, &bus)))
			return code;
		rc = mst_kv_del(bus, a[0]);
		mst_bus_close(bus);
		return rc < 0 ? fail(rc, "cannot delete '%s'", a[0]) : EXIT_OK;
	}
	if (!strcmp(op, "purge")) {
		size_t n = 0;

		if (nargs != 1)
			return die(EXIT_USAGE, "usage: muster kv purge PREFIX [--json]");
		if ((code = key_ok(a[0])) || (code = cli_open(cli, CLI_EXISTING, &bus)))
			return code;
		/* the keys under PREFIX and the records of their deletions */
		rc = mst_kv_purge(bus, a[0], &n);
		mst_bus_close(bus);
		if (rc < 0)
			return fail(rc, "cannot purge '%s'", a[0]);
		if (json)
			printf("{\"purged\":%zu}\n", n);
		return EXIT_OK;
	}
	if (!strcmp(op, "list")) {
		mst_kv *list;
		size_t n, i;

		if (nargs > 1)
			return die(EXIT_USAGE, "usage: muster kv list [PREFIX] [--json]");
		if (nargs == 1 && (code = key_ok(a[0])))
			return code;
		if ((code = cli_open(cli, CLI_EXISTING, &bus)))
			return code;
		rc = mst_kv_list(bus, nargs ? a[0] : "", &list, &n);
		mst_bus_close(bus);
		if (rc < 0)
			return fail(rc, "cannot list keys");
		if (json)
			putchar('[');
		for (i = 0; i < n; i++) {
			if (json) {
				if (i)
					putchar(',');
				printf("{\"key\":");
				json_str(stdout, list[i].key, strlen(list[i].key));
				printf(",\"rev\":%llu,", (unsigned long long)list[i].rev);
				json_payload(stdout, list[i].value, list[i].len);
				putchar('}');
			} else {
				printf("%s\t%llu\t", list[i].key, (unsigned long long)list[i].rev);
				fwrite(list[i].value, 1, list[i].len, stdout);
				putchar('\n');
			}
		}
		if (json)
			printf("]\n");
		mst_kv_list_free(list, n);
		return EXIT_OK;
	}
	if (!strcmp(op, "watch")) {
		if (nargs != 1)
			return die(
				EXIT_USAGE,
				"usage: muster kv watch KEY [--since REV] [--wait DUR] [--follow]");
		if ((code = key_ok(a[0])) || (code = cli_open(cli, 0, &bus)))
			return code;
		code = EXIT_OK;
		for (;;) {
			rc = mst_kv_watch(bus, a[0], since, wait_ms, &kv);
			if (rc == MST_ETIMEOUT || rc == MST_EEMPTY) {
				code = EXIT_EMPTY;
				break;
			}
			if (rc < 0) {
				code = fail(rc, "cannot watch '%s'", a[0]);
				break;
			}
			print_kv(&kv, json);
			/* after a deletion (rev 0) the next change is the key's return */
			since = kv.rev;
			mst_kv_free(&kv);
			if (!follow || fflush(stdout) != 0)
				break;
		}
		mst_bus_close(bus);
		return code;
	}
	return die(EXIT_USAGE,
		   "kv: unknown operation '%s' (get, set, cas, del, purge, list, watch)", op);
}

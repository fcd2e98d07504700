/*
 * cmd_topic.c - muster pub, sub, topic.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUB_BATCH 256

static int name_ok(const char *name)
{
	if (mst_name_check(name) < 0)
		return die(EXIT_USAGE,
			   "invalid topic name '%.200s' (allowed: [A-Za-z0-9._:-]{1,128})", name);
	return 0;
}

int cmd_pub(struct cli *cli, int argc, char **argv)
{
	bool json = false;
	const char *pos[3];
	int npos = 0, i, rc, code;
	char *data = NULL;
	size_t len = 0;
	uint64_t seq, pm = MST_PAYLOAD_MAX_DEFAULT, v;
	const char *e = getenv("MUSTER_PAYLOAD_MAX");
	mst_bus *bus;
	bool dashdash = false;

	if (e && *e && parse_u64(e, &v) == 0 && v)
		pm = v;
	for (i = 1; i < argc; i++) {
		if (!dashdash && !strcmp(argv[i], "--json"))
			json = true;
		else if (!dashdash && !strcmp(argv[i], "--"))
			dashdash = true;
		else if (!dashdash && argv[i][0] == '-' && argv[i][1])
			return die(EXIT_USAGE, "pub: unknown option '%s'", argv[i]);
		else if (npos < 3)
			pos[npos++] = argv[i];
		else
			npos++;
	}
	if (npos < 1 || npos > 2)
		return die(EXIT_USAGE, "usage: muster pub TOPIC [DATA] [--json]");
	if ((code = name_ok(pos[0])))
		return code;
	if (npos == 2) {
		len = strlen(pos[1]);
		if (len > pm)
			return die(EXIT_TOOBIG, "payload of %zu bytes is above the limit of %llu",
				   len, (unsigned long long)pm);
		data = strdup(pos[1]);
		if (!data)
			return die(EXIT_SYSTEM, "out of memory");
	} else {
		rc = read_all(0, pm, &data, &len);
		if (rc == -EFBIG)
			return die(EXIT_TOOBIG, "payload on stdin is above the limit of %llu bytes",
				   (unsigned long long)pm);
		if (rc < 0)
			return fail(rc, "cannot read stdin");
	}
	if ((code = cli_open(cli, 0, &bus))) {
		free(data);
		return code;
	}
	rc = mst_publish(bus, pos[0], data, len, &seq);
	free(data);
	mst_bus_close(bus);
	if (rc < 0)
		return fail(rc, "cannot publish to '%s'", pos[0]);
	if (json)
		printf("{\"seq\":%llu}\n", (unsigned long long)seq);
	else
		printf("%llu\n", (unsigned long long)seq);
	return EXIT_OK;
}

int cmd_sub(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{"from", required_argument, 0, 'f'},  {"follow", no_argument, 0, 'F'},
		{"count", required_argument, 0, 'c'}, {"wait", required_argument, 0, 'w'},
		{"json", no_argument, 0, 'j'},	      {0, 0, 0, 0}};
	uint64_t from = MST_FROM_EARLIEST, count = 0, printed = 0;
	int64_t wait_ms = 0;
	bool follow = false, json = false, waited = false;
	mst_msg msgs[SUB_BATCH];
	mst_bus *bus;
	int o, rc, code = EXIT_OK;

	optind = 0;
	while ((o = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		switch (o) {
		case 'f':
			if (!strcmp(optarg, "earliest"))
				from = MST_FROM_EARLIEST;
			else if (!strcmp(optarg, "latest"))
				from = MST_FROM_LATEST;
			else if (parse_u64(optarg, &from) < 0 || from == UINT64_MAX)
				return die(EXIT_USAGE,
					   "invalid --from '%s' (earliest, latest or a number)",
					   optarg);
			break;
		case 'F':
			follow = true;
			break;
		case 'c':
			if (parse_u64(optarg, &count) < 0 || count == 0)
				return die(EXIT_USAGE, "invalid --count '%s'", optarg);
			break;
		case 'w':
			if (parse_duration(optarg, &wait_ms) < 0)
				return die(EXIT_USAGE, "invalid --wait '%s'", optarg);
			waited = true;
			break;
		case 'j':
			json = true;
			break;
		default:
			return die(EXIT_USAGE, "sub: unknown option or missing value '%s'",
				   argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return die(EXIT_USAGE, "usage: muster sub TOPIC [--from ...] [--follow]");
	if ((code = name_ok(argv[optind])))
		return code;
	if (follow && !waited)
		wait_ms = -1;
	if ((code = cli_open(cli, 0, &bus)))
		return code;
	for (;;) {
		size_t n = 0, i, max = SUB_BATCH;
		uint64_t next;

		if (count && count - printed < max)
			max = (size_t)(count - printed);
		/* without --follow, only the first read waits */
		rc = mst_subscribe(bus, argv[optind], from, follow || !printed ? wait_ms : 0, msgs,
				   max, &n, &next);
		if (rc == MST_EEMPTY || rc == MST_ETIMEOUT) {
			code = printed ? EXIT_OK : EXIT_EMPTY;
			break;
		}
		if (rc < 0) {
			code = fail(rc, "cannot read topic '%s'", argv[optind]);
			break;
		}
		for (i = 0; i < n; i++) {
			if (json) {
				printf("{\"seq\":%llu,\"topic\":", (unsigned long long)msgs[i].id);
				json_str(stdout, argv[optind], strlen(argv[optind]));
				putchar(',');
				json_payload(stdout, msgs[i].data, msgs[i].len);
				printf(",\"time_ms\":%lld}\n", (long long)msgs[i].sent_ms);
			} else {
				printf("%llu\t", (unsigned long long)msgs[i].id);
				fwrite(msgs[i].data, 1, msgs[i].len, stdout);
				putchar('\n');
			}
			mst_msg_free(&msgs[i]);
		}
		printed += n;
		from = next;
		if (follow && fflush(stdout) != 0)
			break;
		if (count && printed >= count)
			break;
	}
	mst_bus_close(bus);
	return code;
}

int cmd_topic(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {{"max-count", required_argument, 0, 'c'},
					   {"max-age", required_argument, 0, 'a'},
					   {0, 0, 0, 0}};
	mst_topic_opts to = {0};
	mst_bus *bus;
	int o, rc, code;

	optind = 0;
	while ((o = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if (o == 'c') {
			if (parse_u64(optarg, &to.max_count) < 0 || to.max_count == 0)
				return die(EXIT_USAGE, "invalid --max-count '%s'", optarg);
		} else if (o == 'a') {
			if (parse_duration(optarg, &to.max_age_ms) < 0 || to.max_age_ms <= 0)
				return die(EXIT_USAGE, "invalid --max-age '%s'", optarg);
		} else {
			return die(EXIT_USAGE, "topic: unknown option or missing value '%s'",
				   argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return die(EXIT_USAGE, "usage: muster topic TOPIC [--max-count N] [--max-age DUR]");
	if ((code = name_ok(argv[optind])) || (code = cli_open(cli, 0, &bus)))
		return code;
	rc = mst_topic_config(bus, argv[optind], &to);
	mst_bus_close(bus);
	if (rc < 0)
		return fail(rc, "cannot configure topic '%s'", argv[optind]);
	return EXIT_OK;
}

/*
 * cmd_queue.c - muster send, recv, ack, nack, touch, peek, queues, queue.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH_DEFAULT 1000

static int bad_value(const char *opt, const char *v)
{
	return die(EXIT_USAGE, "invalid value '%s' for %s", v, opt);
}

static int need_args(int have, int min, int max, const char *cmd)
{
	if (have < min)
		return die(EXIT_USAGE, "%s: missing argument (see muster %s --help)", cmd, cmd);
	if (max >= 0 && have > max)
		return die(EXIT_USAGE, "%s: too many arguments (see muster %s --help)", cmd, cmd);
	return 0;
}

static int check_name(const char *what, const char *name)
{
	if (mst_name_check(name) < 0)
		return die(EXIT_USAGE, "invalid %s name '%.200s' (allowed: [A-Za-z0-9._:-]{1,128})",
			   what, name);
	return 0;
}

static void print_id(uint64_t id, bool json)
{
	if (json)
		printf("{\"id\":\"%016llx\"}\n", (unsigned long long)id);
	else
		printf("%016llx\n", (unsigned long long)id);
}

static int send_batches(mst_bus *bus, const char *queue, const mst_send_opts *so, size_t batch,
			bool json, size_t payload_max)
{
	mst_buf *bufs = calloc(batch, sizeof *bufs);
	uint64_t *ids = calloc(batch, sizeof *ids);
	char **lines = calloc(batch, sizeof *lines);
	size_t n = 0, sent = 0, i, lineno = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0, code = EXIT_OK;

	if (!bufs || !ids || !lines) {
		code = die(EXIT_SYSTEM, "out of memory");
		goto out;
	}
	for (;;) {
		len = getline(&line, &cap, stdin);
		if (len >= 0) {
			lineno++;
			if (len > 0 && line[len - 1] == '\n')
				len--;
			if ((size_t)len > payload_max) {
				code = die(EXIT_TOOBIG,
					   "line %zu: payload of %zd bytes is above the limit of "
					   "%zu; %zu messages sent before it",
					   lineno, len, payload_max, sent);
				goto out;
			}
			lines[n] = line;
			bufs[n].data = line;
			bufs[n].len = (size_t)len;
			line = NULL;
			cap = 0;
			n++;
		}
		if (n && (n == batch || len < 0)) {
			rc = mst_send_batch(bus, queue, bufs, n, so, ids);
			if (rc < 0) {
				code = fail(rc, "cannot send to '%s' (%zu messages sent before)",
					    queue, sent);
				goto out;
			}
			for (i = 0; i < n; i++) {
				print_id(ids[i], json);
				free(lines[i]);
				lines[i] = NULL;
			}
			sent += n;
			n = 0;
		}
		if (len < 0)
			break;
	}
	if (ferror(stdin))
		code = die(EXIT_SYSTEM, "cannot read input: %s; %zu messages sent", strerror(errno),
			   sent);
out:
	for (i = 0; lines && i < n; i++)
		free(lines[i]);
	free(line);
	free(lines);
	free(bufs);
	free(ids);
	return code;
}

int cmd_send(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {{"batch", no_argument, 0, 'b'},
					   {"priority", required_argument, 0, 'p'},
					   {"delay", required_argument, 0, 'd'},
					   {"key", required_argument, 0, 'k'},
					   {"wait", required_argument, 0, 'w'},
					   {"json", no_argument, 0, 'j'},
					   {"batch-size", required_argument, 0, 'B'},
					   {0, 0, 0, 0}};
	mst_send_opts so = {0};
	bool batch = false, json = false;
	uint64_t v, bsize = BATCH_DEFAULT, id;
	const char *queue;
	mst_bus *bus;
	int o, rc, code;
	char *data = NULL;
	size_t len;
	const char *pm = getenv("MUSTER_PAYLOAD_MAX");
	uint64_t payload_max = MST_PAYLOAD_MAX_DEFAULT;

	if (pm && *pm && parse_u64(pm, &v) == 0 && v)
		payload_max = v;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		switch (o) {
		case 'b':
			batch = true;
			break;
		case 'p':
			if (parse_u64(optarg, &v) < 0 || v > 9)
				return bad_value("--priority (0-9)", optarg);
			so.priority = (int)v;
			break;
		case 'd':
			if (parse_duration(optarg, &so.delay_ms) < 0 || so.delay_ms < 0)
				return bad_value("--delay", optarg);
			break;
		case 'k':
			so.key = optarg;
			break;
		case 'w':
			if (parse_duration(optarg, &so.wait_ms) < 0)
				return bad_value("--wait", optarg);
			break;
		case 'j':
			json = true;
			break;
		case 'B':
			if (parse_u64(optarg, &bsize) < 0 || bsize == 0 || bsize > 100000)
				return bad_value("--batch-size (1-100000)", optarg);
			break;
		default:
			return die(EXIT_USAGE, "send: unknown option or missing value '%s'",
				   argv[optind - 1]);
		}
	}
	if ((code = need_args(argc - optind, 1, batch ? 1 : 2, "send")))
		return code;
	queue = argv[optind];
	if ((code = check_name("queue", queue)))
		return code;
	if (so.key && (code = check_name("key", so.key)))
		return code;
	if (batch && so.key)
		return die(EXIT_USAGE, "send: --key cannot be used with --batch");
	if (!batch && argc - optind == 2) {
		data = strdup(argv[optind + 1]);
		len = strlen(argv[optind + 1]);
		if (!data)
			return die(EXIT_SYSTEM, "out of memory");
		if (len > payload_max) {
			free(data);
			return die(EXIT_TOOBIG, "payload of %zu bytes is above the limit of %llu",
				   len, (unsigned long long)payload_max);
		}
	} else if (!batch) {
		rc = read_all(0, payload_max, &data, &len);
		if (rc == -EFBIG)
			return die(EXIT_TOOBIG, "payload on stdin is above the limit of %llu bytes",
				   (unsigned long long)payload_max);
		if (rc < 0)
			return fail(rc, "cannot read stdin");
	}
	if ((code = cli_open(cli, 0, &bus))) {
		free(data);
		return code;
	}
	if (batch) {
		code = send_batches(bus, queue, &so, bsize, json, payload_max);
	} else {
		rc = mst_send(bus, queue, data, len, &so, &id);
		if (rc < 0)
			code = fail(rc, "cannot send to '%s'", queue);
		else
			print_id(id, json);
	}
	free(data);
	mst_bus_close(bus);
	return code;
}

static void print_msg(const mst_msg *m, bool json, bool payload_only, bool leased)
{
	if (json) {
		printf("{\"id\":\"%016llx\",\"queue\":", (unsigned long long)m->id);
		json_str(stdout, m->queue, strlen(m->queue));
		putchar(',');
		json_payload(stdout, m->data, m->len);
		printf(",\"priority\":%d,\"attempt\":%u,\"sent_ms\":%lld", m->priority, m->attempt,
		       (long long)m->sent_ms);
		if (leased)
			printf(",\"lease_until_ms\":%lld", (long long)m->lease_until_ms);
		printf("}\n");
	} else if (payload_only) {
		fwrite(m->data, 1, m->len, stdout);
	} else {
		printf("%016llx\t", (unsigned long long)m->id);
		fwrite(m->data, 1, m->len, stdout);
		putchar('\n');
	}
}

int cmd_recv(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {{"wait", required_argument, 0, 'w'},
					   {"count", required_argument, 0, 'c'},
					   {"lease", required_argument, 0, 'l'},
					   {"ack", no_argument, 0, 'a'},
					   {"json", no_argument, 0, 'j'},
					   {"payload", no_argument, 0, 'P'},
					   {0, 0, 0, 0}};
	mst_recv_opts ro = {0};
	bool json = false, ack = false, payload_only = false;
	uint64_t count = 1;
	mst_msg *msgs;
	size_t n = 0, i;
	mst_bus *bus;
	int o, rc, code;

	optind = 0;
	while ((o = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		switch (o) {
		case 'w':
			if (parse_duration(optarg, &ro.wait_ms) < 0)
				return bad_value("--wait", optarg);
			break;
		case 'c':
			if (parse_u64(optarg, &count) < 0 || count == 0 || count > 100000)
				return bad_value("--count (1-100000)", optarg);
			break;
		case 'l':
			if (parse_duration(optarg, &ro.lease_ms) < 0 || ro.lease_ms <= 0)
				return bad_value("--lease", optarg);
			break;
		case 'a':
			ack = true;
			break;
		case 'j':
			json = true;
			break;
		case 'P':
			payload_only = true;
			break;
		default:
			return die(EXIT_USAGE, "recv: unknown option or missing value '%s'",
				   argv[optind - 1]);
		}
	}
	if ((code = need_args(argc - optind, 1, 1, "recv")))
		return code;
	if ((code = check_name("queue", argv[optind])))
		return code;
	msgs = calloc(count, sizeof *msgs);
	if (!msgs)
		return die(EXIT_SYSTEM, "out of memory");
	if ((code = cli_open(cli, CLI_OWNER, &bus))) {
		free(msgs);
		return code;
	}
	rc = mst_recv(bus, argv[optind], &ro, msgs, count, &n);
	if (rc == MST_EEMPTY || rc == MST_ETIMEOUT)
		code = EXIT_EMPTY; /* nothing arrived: no output, no noise */
	else if (rc < 0)
		code = fail(rc, "cannot receive from '%s'", argv[optind]);
	for (i = 0; i < n; i++)
		print_msg(&msgs[i], json, payload_only, !ack);
	if (ack && n) {
		/* printed first, then acked together: a crash in between redelivers */
		uint64_t *ids = calloc(n, sizeof *ids);
		if (!ids) {
			code = die(EXIT_SYSTEM, "out of memory");
		} else {
			for (i = 0; i < n; i++)
				ids[i] = msgs[i].id;
			if (fflush(stdout) != 0)
				code = die(EXIT_SYSTEM, "cannot write output; messages not acked");
			else if ((rc = mst_settle_batch(bus, MST_SETTLE_ACK, ids, n, 0, NULL)) < 0)
				code = fail(rc, "cannot ack");
			free(ids);
		}
	}
	for (i = 0; i < n; i++)
		mst_msg_free(&msgs[i]);
	free(msgs);
	mst_bus_close(bus);
	return code;
}

/* ack, nack, touch: ID... with one optional duration */
static int settle(struct cli *cli, int argc, char **argv, int op)
{
	static const struct option lo[] = {{"delay", required_argument, 0, 'd'},
					   {"lease", required_argument, 0, 'l'},
					   {0, 0, 0, 0}};
	int64_t ms = 0;
	mst_bus *bus;
	uint64_t *ids;
	int *res;
	int o, i, rc, code = EXIT_OK;

	optind = 0;
	while ((o = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if ((o == 'd' && op == 2) || (o == 'l' && op == 3)) {
			if (parse_duration(optarg, &ms) < 0 || ms < 0)
				return bad_value(o == 'd' ? "--delay" : "--lease", optarg);
		} else if (o == 'd' || o == 'l') {
			return die(EXIT_USAGE, "%s: option '--%s' is not allowed here", argv[0],
				   o == 'd' ? "delay" : "lease");
		} else {
			return die(EXIT_USAGE, "%s: unknown option or missing value '%s'", argv[0],
				   argv[optind - 1]);
		}
	}
	if ((code = need_args(argc - optind, 1, -1, argv[0])))
		return code;
	for (i = optind; i < argc; i++) {
		uint64_t id;
		if (parse_id(argv[i], &id) < 0)
			return die(EXIT_USAGE, "invalid message id '%.100s' (16 hex digits)",
				   argv[i]);
	}
	ids = calloc((size_t)(argc - optind), sizeof *ids);
	res = calloc((size_t)(argc - optind), sizeof *res);
	if (!ids || !res) {
		free(ids);
		free(res);
		return die(EXIT_SYSTEM, "out of memory");
	}
	for (i = optind; i < argc; i++)
		parse_id(argv[i], &ids[i - optind]);
	if ((code = cli_open(cli, CLI_OWNER, &bus))) {
		free(ids);
		free(res);
		return code;
	}
	/* all ids in one commit; each one that fails is named */
	rc = mst_settle_batch(bus,
			      op == 1	? MST_SETTLE_ACK
			      : op == 2 ? MST_SETTLE_NACK
					: MST_SETTLE_TOUCH,
			      ids, (size_t)(argc - optind), ms, res);
	for (i = optind; i < argc; i++) {
		if (res[i - optind] < 0) {
			int c = fail(res[i - optind], "cannot %s %s", argv[0], argv[i]);
			if (code == EXIT_OK)
				code = c;
		}
	}
	if (rc < 0 && code == EXIT_OK)
		code = fail(rc, "cannot %s", argv[0]);
	free(ids);
	free(res);
	mst_bus_close(bus);
	return code;
}

int cmd_ack(struct cli *cli, int argc, char **argv)
{
	return settle(cli, argc, argv, 1);
}

int cmd_nack(struct cli *cli, int argc, char **argv)
{
	return settle(cli, argc, argv, 2);
}

int cmd_touch(struct cli *cli, int argc, char **argv)
{
	return settle(cli, argc, argv, 3);
}

int cmd_peek(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{"count", required_argument, 0, 'c'}, {"json", no_argument, 0, 'j'}, {0, 0, 0, 0}};
	uint64_t count = 10;
	bool json = false;
	mst_msg *msgs;
	size_t n = 0, i;
	mst_bus *bus;
	int o, rc, code;

	optind = 0;
	while ((o = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if (o == 'c') {
			if (parse_u64(optarg, &count) < 0 || count == 0 || count > 100000)
				return bad_value("--count (1-100000)", optarg);
		} else if (o == 'j') {
			json = true;
		} else {
			return die(EXIT_USAGE, "peek: unknown option or missing value '%s'",
				   argv[optind - 1]);
		}
	}
	if ((code = need_args(argc - optind, 1, 1, "peek")) ||
	    (code = check_name("queue", argv[optind])))
		return code;
	msgs = calloc(count, sizeof *msgs);
	if (!msgs)
		return die(EXIT_SYSTEM, "out of memory");
	if ((code = cli_open(cli, CLI_EXISTING, &bus))) {
		free(msgs);
		return code;
	}
	rc = mst_peek(bus, argv[optind], msgs, count, &n);
	if (rc < 0)
		code = fail(rc, "cannot peek into '%s'", argv[optind]);
	for (i = 0; i < n; i++) {
		print_msg(&msgs[i], json, false, false);
		mst_msg_free(&msgs[i]);
	}
	free(msgs);
	mst_bus_close(bus);
	return code;
}

static void print_queue(const mst_queue_info *q, bool json)
{
	if (json) {
		printf("{\"name\":");
		json_str(stdout, q->name, strlen(q->name));
		printf(",\"ready\":%llu,\"leased\":%llu,\"delayed\":%llu,\"dead\":%llu,"
		       "\"sent\":%llu,\"acked\":%llu,\"redelivered\":%llu,\"max_attempts\":%u,"
		       "\"lease_ms\":%lld,\"dead_letter\":",
		       (unsigned long long)q->ready, (unsigned long long)q->leased,
		       (unsigned long long)q->delayed, (unsigned long long)q->dead,
		       (unsigned long long)q->sent, (unsigned long long)q->acked,
		       (unsigned long long)q->redelivered, q->max_attempts, (long long)q->lease_ms);
		json_str(stdout, q->dead_letter, strlen(q->dead_letter));
		putchar('}');
	} else {
		printf("%-24s %8llu %8llu %8llu %8llu %10llu %10llu\n", q->name,
		       (unsigned long long)q->ready, (unsigned long long)q->leased,
		       (unsigned long long)q->delayed, (unsigned long long)q->dead,
		       (unsigned long long)q->sent, (unsigned long long)q->acked);
	}
}

static bool json_flag(int argc, char **argv, int *code, const char *cmd)
{
	bool json = false;
	int i;

	*code = 0;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			*code = die(EXIT_USAGE, "%s: unexpected argument '%s'", cmd, argv[i]);
	}
	return json;
}

int cmd_queues(struct cli *cli, int argc, char **argv)
{
	mst_queue_info *qs;
	size_t n, i;
	mst_bus *bus;
	int rc, code;
	bool json = json_flag(argc, argv, &code, "queues");

	if (code || (code = cli_open(cli, 0, &bus)))
		return code;
	rc = mst_queue_list(bus, &qs, &n);
	mst_bus_close(bus);
	if (rc < 0)
		return fail(rc, "cannot list queues");
	if (json)
		putchar('[');
	else
		printf("%-24s %8s %8s %8s %8s %10s %10s\n", "QUEUE", "READY", "LEASED", "DELAYED",
		       "DEAD", "SENT", "ACKED");
	for (i = 0; i < n; i++) {
		if (json && i)
			putchar(',');
		print_queue(&qs[i], json);
	}
	if (json)
		printf("]\n");
	mst_free(qs);
	return EXIT_OK;
}

int cmd_queue(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {{"max-attempts", required_argument, 0, 'm'},
					   {"lease", required_argument, 0, 'l'},
					   {"dead-letter", required_argument, 0, 'd'},
					   {"json", no_argument, 0, 'j'},
					   {"delete", no_argument, 0, 'D'},
					   {0, 0, 0, 0}};
	uint64_t maxa = 0;
	int64_t lease = 0;
	const char *dlq = NULL;
	bool json = false, set = false, del = false;
	mst_queue_info qi;
	mst_bus *bus;
	int o, rc, code;

	optind = 0;
	while ((o = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		switch (o) {
		case 'm':
			if (parse_u64(optarg, &maxa) < 0 || maxa == 0 || maxa > 1000000)
				return bad_value("--max-attempts", optarg);
			set = true;
			break;
		case 'l':
			if (parse_duration(optarg, &lease) < 0 || lease <= 0)
				return bad_value("--lease", optarg);
			set = true;
			break;
		case 'd':
			dlq = optarg;
			set = true;
			break;
		case 'j':
			json = true;
			break;
		case 'D':
			del = true;
			break;
		default:
			return die(EXIT_USAGE, "queue: unknown option or missing value '%s'",
				   argv[optind - 1]);
		}
	}
	if ((code = need_args(argc - optind, 1, 1, "queue")) ||
	    (code = check_name("queue", argv[optind])) ||
	    (dlq && (code = check_name("dead-letter queue", dlq))))
		return code;
	if (del && (set || json))
		return die(EXIT_USAGE, "queue: --delete takes no other option");
	if ((code = cli_open(cli, set ? 0 : CLI_EXISTING, &bus)))
		return code;
	if (del) {
		/* its messages (ready, delayed, leased), keys, counters and policy */
		rc = mst_queue_delete(bus, argv[optind]);
		mst_bus_close(bus);
		return rc < 0 ? fail(rc, "cannot delete queue '%s'", argv[optind]) : EXIT_OK;
	}
	if (set && (rc = mst_queue_config(bus, argv[optind], (uint32_t)maxa, lease, dlq)) < 0) {
		mst_stats st;

		if (rc == MST_EINVAL && dlq && mst_stats_get(bus, &st) == 0 && st.shards > 1) {
			mst_bus_close(bus);
			return die(EXIT_USAGE,
				   "cannot configure queue '%s': dead-letter queue '%s' is in "
				   "another store of this sharded bus (a name starting with "
				   "'%s.dead' is in the same one)",
				   argv[optind], dlq, argv[optind]);
		}
		mst_bus_close(bus);
		return fail(rc, "cannot configure queue '%s'", argv[optind]);
	}
	rc = mst_queue_stat(bus, argv[optind], &qi);
	mst_bus_close(bus);
	if (rc < 0)
		return fail(rc, "queue '%s'", argv[optind]);
	if (json) {
		print_queue(&qi, true);
		putchar('\n');
	} else {
		printf("queue %s\n  ready %llu, leased %llu, delayed %llu, dead %llu\n"
		       "  sent %llu, acked %llu, redelivered %llu\n"
		       "  max attempts %u, lease %lld ms, dead letters to %s\n",
		       qi.name, (unsigned long long)qi.ready, (unsigned long long)qi.leased,
		       (unsigned long long)qi.delayed, (unsigned long long)qi.dead,
		       (unsigned long long)qi.sent, (unsigned long long)qi.acked,
		       (unsigned long long)qi.redelivered, qi.max_attempts, (long long)qi.lease_ms,
		       qi.dead_letter[0] ? qi.dead_letter : "(none)");
	}
	return EXIT_OK;
}

/*
 * util.c - shared pieces of the CLI: errors and exit codes, opening the bus with the
 * right lease owner, parsers of durations and ids, JSON output.
 */
#define _GNU_SOURCE
#include "cli.h"

#include "../run/run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int exitcode(int err)
{
	switch (err) {
	case 0:
		return EXIT_OK;
	case MST_EEMPTY:
	case MST_ETIMEOUT:
	case MST_EBUSY:
		return EXIT_EMPTY;
	case MST_EINVAL:
	case MST_ENAME:
	case MST_EURL:
		return EXIT_USAGE;
	case MST_ENOTFOUND:
	case -ENOENT: /* the bus directory's parent is missing */
		return EXIT_NOTFOUND;
	case MST_ENOTHELD:
		return EXIT_NOTHELD;
	case MST_ECONFLICT:
	case MST_ESKIPPED:
		return EXIT_CONFLICT;
	case MST_EFULL:
	case -ENOSPC:
		return EXIT_FULL;
	case MST_ETOOBIG:
		return EXIT_TOOBIG;
	case MST_EINSECURE:
	case MST_ECORRUPT:
	case MST_EVERSION:
	case -ENOTDIR: /* the bus path is not a directory */
	case -EACCES:
	case -EROFS:
		return EXIT_UNUSABLE;
	case MST_ENOOWNER:
		return EXIT_NOOWNER;
	default:
		return EXIT_SYSTEM;
	}
}

/* Prints "muster: MESSAGE[: tail]" on one line: control characters in the message
 * (names and values come from the user) are escaped as \xNN. */
static void say_error(const char *fmt, va_list ap, const char *tail)
{
	char buf[2048];
	const unsigned char *p;

	fflush(stdout);
	vsnprintf(buf, sizeof buf, fmt, ap);
	fputs("muster: ", stderr);
	for (p = (const unsigned char *)buf; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fprintf(stderr, "\\x%02x", *p);
		else
			fputc(*p, stderr);
	}
	if (tail)
		fprintf(stderr, ": %s", tail);
	fputc('\n', stderr);
}

int die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say_error(fmt, ap, NULL);
	va_end(ap);
	return code;
}

int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say_error(fmt, ap, mst_strerror(err));
	va_end(ap);
	return exitcode(err);
}

int finish(int code)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (code == EXIT_OK)
			code = die(EXIT_SYSTEM, "cannot write output: %s", strerror(errno));
	}
	return code;
}

static ssize_t slurp_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static bool in_list(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(name, *list))
			return true;
	return false;
}

static const char *const shells[] = {"bash", "sh",  "dash", "zsh",  "ksh",
				     "mksh", "ash", "yash", "fish", NULL};
/* programs that run a command and exit with it: never the caller themselves */
static const char *const wrappers[] = {"timeout", "xargs",  "env",	"nice",	  "nohup",
				       "stdbuf",  "setsid", "ionice",	"chrt",	  "taskset",
				       "time",	  "flock",  "unbuffer", "strace", NULL};
/* the init of a pid namespace: a reaper, never a caller */
static const char *const inits[] = {"systemd",	 "init",      "tini",  "dumb-init",   "docker-init",
				    "catatonit", "s6-svscan", "runit", "openrc-init", NULL};

/* The process that called muster through pid, when pid is only a short-lived go-between
 * that ends with this command: a forked subshell (a pipeline stage or a command
 * substitution: same shell program and command line as the shell that forked it), a
 * shell run as "sh -c 'muster ...'" (as Python's shell=True and os.system do), or a
 * wrapper such as timeout or xargs. Returns its parent's pid, else 0. */
static pid_t transient_parent(pid_t pid)
{
	char path[64], exe[PATH_MAX], pexe[PATH_MAX], stat[512], *p;
	char cmd[4096], pcmd[4096];
	const char *base;
	ssize_t n, pn;
	long ppid;

	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	if ((n = readlink(path, exe, sizeof exe - 1)) <= 0)
		return 0;
	exe[n] = 0;
	base = base_name(exe);
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (slurp_file(path, stat, sizeof stat) <= 0)
		return 0;
	if (!(p = strrchr(stat, ')')) || sscanf(p + 1, " %*c %ld", &ppid) != 1 || ppid < 1)
		return 0;
	if (in_list(base, wrappers))
		return (pid_t)ppid;
	if (!in_list(base, shells) && strcmp(base, "busybox"))
		return 0;
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	if ((n = slurp_file(path, cmd, sizeof cmd)) <= 0)
		return 0;
	/* sh -c 'muster ...' or sh -c 'exec muster ...' */
	for (p = cmd; p < cmd + n; p += strlen(p) + 1) {
		if (!strcmp(p, "-c") && p + 3 < cmd + n) {
			const char *c = p + 3, *w;
			char first[256];
			size_t i = 0;

			while (*c == ' ' || *c == '\t')
				c++;
			if (!strncmp(c, "exec ", 5))
				c += 5;
			for (w = c; *w && *w != ' ' && *w != '\t' && i < sizeof first - 1; w++)
				first[i++] = *w;
			first[i] = 0;
			return !strcmp(base_name(first), "muster") ? (pid_t)ppid : 0;
		}
	}
	/* a forked subshell: same program, same command line as its parent */
	snprintf(path, sizeof path, "/proc/%ld/exe", ppid);
	if ((pn = readlink(path, pexe, sizeof pexe - 1)) <= 0)
		return 0;
	pexe[pn] = 0;
	if (strcmp(exe, pexe))
		return 0;
	snprintf(path, sizeof path, "/proc/%ld/cmdline", ppid);
	if ((pn = slurp_file(path, pcmd, sizeof pcmd)) <= 0)
		return 0;
	if (n != pn || memcmp(cmd, pcmd, (size_t)n))
		return 0;
	return (pid_t)ppid;
}

/* Is pid the init of our pid namespace acting as a reaper rather than as our caller?
 * An init program never calls us. Any other pid 1 (a container's entry shell or
 * program) is our caller when we are in its process group; an orphan adopted by it
 * comes from another group. */
static bool is_init(pid_t pid)
{
	char path[64], comm[64];

	if (pid != 1)
		return false;
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	if (slurp_file(path, comm, sizeof comm) <= 0)
		return true;
	comm[strcspn(comm, "\n")] = 0;
	return in_list(comm, inits) || getpgid(0) != getpgid(1);
}

int cli_open(struct cli *cli, int flags, mst_bus **bus)
{
	mst_bus_opts opts = {0};
	const char *e;
	pid_t parent = 0;
	int rc;

	opts.no_create = (flags & CLI_EXISTING) != 0;
	if (flags & CLI_OWNER) {
		if (cli->owner > 0) {
			opts.owner_pid = (pid_t)cli->owner;
		} else if ((e = getenv("MUSTER_OWNER")) && *e) {
			uint64_t v;
			if (parse_u64(e, &v) < 0 || v == 0 || v > 0x7fffffff)
				return die(EXIT_USAGE, "invalid MUSTER_OWNER '%s'", e);
			opts.owner_pid = (pid_t)v;
		} else {
			/* the caller is our parent; if it died before we looked we
			 * were reparented, and must not credit the lease to the
			 * reaper */
			parent = getppid();
			/* no parent in our pid namespace: we are its pid 1, exec'd by the
			 * shell that was (as its last command): we carry its identity */
			if (parent == 0 && getpid() == 1)
				parent = 1;
			if (parent < 1 || (parent != getpid() && is_init(parent)))
				return die(EXIT_NOOWNER,
					   "the calling process is gone (parent is pid %d, an "
					   "init); name the owner with --owner PID",
					   (int)parent);
			opts.owner_pid = parent;
			for (int depth = 0; depth < 8; depth++) {
				pid_t up = transient_parent(opts.owner_pid);
				if (!up || is_init(up))
					break;
				opts.owner_pid = up;
			}
		}
	}
	if ((e = getenv("MUSTER_QUOTA")) && *e) {
		uint64_t q;
		if (parse_u64(e, &q) < 0)
			return die(EXIT_USAGE, "invalid MUSTER_QUOTA '%s' (bytes)", e);
		opts.quota = q;
	}
	if ((e = getenv("MUSTER_PAYLOAD_MAX")) && *e) {
		uint64_t q;
		if (parse_u64(e, &q) < 0 || q == 0)
			return die(EXIT_USAGE, "invalid MUSTER_PAYLOAD_MAX '%s' (bytes)", e);
		opts.payload_max = (size_t)q;
	}
	if (opts.no_create) {
		rc = mst_bus_open(bus, cli->bus_url, &opts);
	} else {
		/* an existing bus first; the config (the sharding flag: how many stores a new
		 * bus gets) is read only when the bus is made, not by every command */
		opts.no_create = 1;
		rc = mst_bus_open(bus, cli->bus_url, &opts);
		opts.no_create = 0;
		if (rc == MST_ENOTFOUND) {
			struct run_features f;

			if (run_features_load(&f) < 0)
				return die(EXIT_USAGE, "%s", f.err);
			opts.shards = f.shards;
			rc = mst_bus_open(bus, cli->bus_url, &opts);
		}
	}
	if (rc == MST_ENOOWNER)
		return die(EXIT_NOOWNER, "owner process %d is not running", (int)opts.owner_pid);
	if (rc == MST_ENOTFOUND)
		return die(EXIT_NOTFOUND, "no bus at '%s'",
			   cli->bus_url ? cli->bus_url
					: (getenv("MUSTER_BUS") ? getenv("MUSTER_BUS")
								: "local:default"));
	if (rc == MST_EINSECURE) {
		/* say which check failed */
		char dir[PATH_MAX] = "", why[8];
		struct stat st;
		const char *what = "a file in it is a symlink or not a regular file";

		if (mst_bus_locate(cli->bus_url, dir, sizeof dir, why, sizeof why) == 0 &&
		    lstat(dir, &st) == 0) {
			if (S_ISLNK(st.st_mode))
				what = "it is a symlink";
			else if (st.st_uid != geteuid())
				what = "it belongs to another user";
			else if (st.st_mode & (S_IWGRP | S_IWOTH))
				what = "it is writable by group or others (chmod 700 it)";
		}
		return die(EXIT_UNUSABLE,
			   "cannot open bus '%s': bus directory is not safe to use: %s",
			   dir[0] ? dir : "?", what);
	}
	if (rc < 0)
		return fail(rc, "cannot open bus '%s'",
			    cli->bus_url ? cli->bus_url
					 : (getenv("MUSTER_BUS") ? getenv("MUSTER_BUS")
								 : "local:default"));
	if (parent && parent != getpid() && getppid() != parent) {
		mst_bus_close(*bus);
		*bus = NULL;
		return die(EXIT_NOOWNER, "the calling process exited while muster started");
	}
	return 0;
}

int parse_u64(const char *s, uint64_t *v)
{
	uint64_t r = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (r > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		r = r * 10 + (uint64_t)(*s - '0');
	}
	*v = r;
	return 0;
}

int parse_id(const char *s, uint64_t *id)
{
	uint64_t r = 0;
	size_t n = 0;

	if (!s)
		return -1;
	for (; *s; s++, n++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -1;
		if (n >= 16)
			return -1;
		r = (r << 4) | (uint64_t)d;
	}
	if (n == 0)
		return -1;
	*id = r;
	return 0;
}

int parse_duration(const char *s, int64_t *ms)
{
	uint64_t whole = 0, frac = 0, fscale = 1, mult = 1000;
	const char *p = s;

	if (!s || !*s)
		return -1;
	if (!strcmp(s, "forever") || !strcmp(s, "inf") || !strcmp(s, "-1")) {
		*ms = -1;
		return 0;
	}
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > 1000000000ull)
			return -1;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (fscale < 1000000) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				fscale *= 10;
			}
		}
	}
	if (!*p || !strcmp(p, "s"))
		mult = 1000;
	else if (!strcmp(p, "ms"))
		mult = 1;
	else if (!strcmp(p, "m"))
		mult = 60000;
	else if (!strcmp(p, "h"))
		mult = 3600000;
	else
		return -1;
	*ms = (int64_t)(whole * mult + frac * mult / fscale);
	return 0;
}

bool utf8_valid(const void *data, size_t len)
{
	const unsigned char *s = data;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n, k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + n >= len)
			return false;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

void json_str(FILE *f, const char *s, size_t len)
{
	size_t i;

	fputc('"', f);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

static void base64(FILE *f, const unsigned char *s, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	fputc('"', f);
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		fputc(tab[v >> 18], f);
		fputc(tab[(v >> 12) & 63], f);
		fputc(tab[(v >> 6) & 63], f);
		fputc(tab[v & 63], f);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		fprintf(f, "%c%c==", tab[v >> 18], tab[(v >> 12) & 63]);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		fprintf(f, "%c%c%c=", tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63]);
	}
	fputc('"', f);
}

void json_payload(FILE *f, const void *data, size_t len)
{
	if (utf8_valid(data, len) && !memchr(data, 0, len)) {
		fputs("\"payload\":", f);
		json_str(f, data, len);
	} else {
		/* bytes that are not text: the exact bytes in base64, and payload null */
		fputs("\"payload\":null,\"payload_base64\":", f);
		base64(f, data, len);
	}
}

int read_all(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r;
		if (n == cap) {
			char *nb;
			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		free(buf);
		return -EFBIG;
	}
	*out = buf;
	*len = n;
	return 0;
}

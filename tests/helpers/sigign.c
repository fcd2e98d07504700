/*
 * sigign.c - runs a command with signals ignored, as some parents leave them (nohup,
 * a shell's background job; glibc's posix_spawn leaves its own signals 32 and 33
 * ignored in its children), to check that muster's agents start with none ignored.
 *
 *   sigign SIG[,SIG...] CMD [ARGS...]
 *
 * Signals are numbers; the kernel's sigaction is used, as the C library refuses 32
 * and 33. Exits 2 on bad usage, 127 when CMD cannot be run.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ksigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask;
};

int main(int argc, char **argv)
{
	struct ksigaction ign = {.handler = SIG_IGN};
	char *list, *tok, *save = NULL;

	if (argc < 3) {
		fprintf(stderr, "usage: sigign SIG[,SIG...] CMD [ARGS...]\n");
		return 2;
	}
	list = strdup(argv[1]);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long sig = strtol(tok, NULL, 10);

		if (sig < 1 || sig > 64 ||
		    syscall(SYS_rt_sigaction, (int)sig, &ign, NULL, sizeof ign.mask) != 0) {
			fprintf(stderr, "sigign: cannot ignore signal %s\n", tok);
			return 2;
		}
	}
	free(list);
	execvp(argv[2], argv + 2);
	perror("sigign: exec");
	return 127;
}

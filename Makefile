# muster - a daemonless, crash-safe coordination bus and supervisor.
#
#   make                 build build/muster and build/libmuster.a (SANITIZE: build-san/)
#   make check           unit tests (Check), CLI contract tests (prove), fuzz corpus replay
#   make bench           benchmarks beside their floors (futex ping-pong)
#   make lint            clang-format --dry-run, cppcheck, shellcheck
#   make install         PREFIX=/usr/local DESTDIR=
#   make SANITIZE=address,undefined check
#   make WERROR=1        warnings are errors (CI)

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
O ?= build

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter -Wvla
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -Iinclude $(WARN) -fno-strict-aliasing
LDLIBS := -llmdb -lpthread
ifeq ($(WERROR),1)
CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
O := build-san
endif

LIB_SRC := $(wildcard src/lib/*.c src/lib/local/*.c src/lib/shard/*.c)
# The supervisor (muster run): built on the public API, linked into the CLI; it parses
# JSON with jansson (Debian libjansson-dev).
RUN_SRC := $(wildcard src/run/*.c)
# The validation suite (muster validate): built like the supervisor, linked into the CLI;
# its charts need libm.
VALIDATE_SRC := $(wildcard src/validate/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o)
RUN_OBJ := $(RUN_SRC:%.c=$(O)/%.o)
VALIDATE_OBJ := $(VALIDATE_SRC:%.c=$(O)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(O)/%.o) $(RUN_OBJ) $(VALIDATE_OBJ)
RUN_LIBS := -ljansson
VALIDATE_LIBS := -lm
LIB := $(O)/libmuster.a
BIN := $(O)/muster

UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BIN := $(O)/tests/unit/check_muster
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:%.c=$(O)/%)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRC:fuzz/%.c=$(O)/fuzz/%-replay)
BENCH_SRC := $(wildcard bench/*.c)
# The Redis peer (bench/redis.c) needs hiredis (Debian libhiredis-dev); without it the
# peer is not built and bench/run.sh reports it as skipped.
ifneq ($(shell pkg-config --exists hiredis 2>/dev/null && echo yes),yes)
BENCH_SRC := $(filter-out bench/redis.c,$(BENCH_SRC))
endif
BENCH_BIN := $(BENCH_SRC:%.c=$(O)/%)

.PHONY: all check unit tcheck fuzz fuzz-replay bench lint install clean
all: $(BIN) $(LIB)

$(O)/%.o: %.c $(wildcard include/*.h src/lib/*.h src/lib/local/*.h src/cli/*.h src/run/*.h \
	  src/validate/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(RUN_LIBS) $(VALIDATE_LIBS) $(LDLIBS)

$(UNIT_BIN): $(UNIT_SRC) $(LIB) $(RUN_OBJ) $(VALIDATE_OBJ) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc/lib -Isrc/run -Isrc/validate $(LDFLAGS) -o $@ $(UNIT_SRC) \
	  $(RUN_OBJ) $(VALIDATE_OBJ) $(LIB) \
	  $$(pkg-config --cflags --libs check) $(RUN_LIBS) $(VALIDATE_LIBS) $(LDLIBS)

$(O)/tests/helpers/%: tests/helpers/%.c tests/helpers/helpers.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc/lib $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# The CLI parsers are not in the library: their harness links the CLI's util.o too.
$(O)/fuzz/%-replay: fuzz/%.c fuzz/replay.c fuzz/fuzz.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc/lib -Isrc/lib/local -Isrc/cli -Isrc/run $(LDFLAGS) -o $@ fuzz/replay.c $< \
	  $(filter %.o,$^) $(LIB) $(RUN_LIBS) $(LDLIBS)
$(O)/fuzz/fuzz_cliparse-replay: $(O)/src/cli/util.o $(O)/src/run/features.o
$(O)/fuzz/fuzz_tasks-replay: $(O)/src/run/task.o $(O)/src/run/result.o
$(O)/fuzz/fuzz_pool-replay: $(O)/src/run/pool.o $(O)/src/run/task.o $(O)/src/run/result.o

$(O)/bench/%: bench/%.c bench/bench.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc/lib $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lm

# Only the Redis peer links hiredis (and not the library).
$(O)/bench/redis: bench/redis.c bench/bench.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $$(pkg-config --cflags hiredis) $(LDFLAGS) -o $@ $< \
	  $$(pkg-config --libs hiredis) -lm

# Each suite prints "N passed, N failed"; tests/run.sh adds them up.
check: all $(UNIT_BIN) $(HELPER_BIN) $(FUZZ_REPLAY)
	@O=$(O) tests/run.sh

bench: all $(BENCH_BIN) $(HELPER_BIN)
	@O=$(O) bench/run.sh

fuzz: $(FUZZ_SRC)
	@mkdir -p $(O)/fuzz
	for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  x=; [ $$n = fuzz_cliparse ] && x="src/cli/util.c src/run/features.c"; [ $$n = fuzz_tasks ] && x="src/run/task.c src/run/result.c"; \
	  [ $$n = fuzz_pool ] && x="src/run/pool.c src/run/task.c src/run/result.c"; \
	  clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -Iinclude -Isrc/lib -Isrc/lib/local -Isrc/cli -Isrc/run \
	    -o $(O)/fuzz/$$n $$f $$x $(LIB_SRC) -ljansson -llmdb -lpthread || exit 1; done

lint:
	clang-format --dry-run --Werror $(LIB_SRC) $(RUN_SRC) $(VALIDATE_SRC) $(CLI_SRC) \
	  include/muster.h src/validate/validate.h
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	  --suppress=missingIncludeSystem -Iinclude $(LIB_SRC) $(RUN_SRC) $(VALIDATE_SRC) $(CLI_SRC)
	shellcheck -x tests/*.sh tests/t/*.sh bench/*.sh .ci/run scripts/*.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	  $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/muster
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libmuster.a
	install -m 644 include/muster.h $(DESTDIR)$(PREFIX)/include/muster.h
	install -m 644 docs/muster.1 $(DESTDIR)$(PREFIX)/share/man/man1/muster.1

clean:
	rm -rf build build-san

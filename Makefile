# hogo — one build for the agent, the uplink, the collector and hogoctl.
#
#   make            build everything into build/
#   make check      install test dependencies, build, run every test (normal + ASan/UBSan)
#   make run        the embedded default: collector (SQLite) + agent + uplink on this machine
#   make bench      benchmarks under bench/, printing their figures
#   make fuzz       libFuzzer targets under tests/fuzz/ (FUZZ_SECONDS each, default 60)
#   make lint       cppcheck + clang-tidy, warnings as errors
#   make format     clang-format -i over the tree
#   make install    PREFIX=/usr/local DESTDIR=
#
# Layout of the build: every directory's *.c except main.c files goes into one static
# library per component; binaries link their main with the libraries they need.

PREFIX     ?= /usr/local
DESTDIR    ?=
BUILD      ?= build
CC         ?= cc
SANITIZE   ?= 0
FUZZ       ?= 0
FUZZ_SECONDS ?= 60
VERSION    := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

PKGS := libudev libsystemd libcurl json-c openssl libevent libevent_openssl zlib \
        libevent_pthreads sqlite3 libpq cunit

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
           -Wmissing-prototypes -Wstrict-prototypes -Wvla -Wno-unused-parameter
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu17 $(WARN) -D_GNU_SOURCE -DHOGO_VERSION='"$(VERSION)"' \
           -DHOGO_LOCALEDIR='"$(PREFIX)/share/locale"' -DHOGO_LIBEXECDIR='"$(PREFIX)/libexec"' -I. $(PKG_CFLAGS) -pthread
LDLIBS  += $(PKG_LIBS) -pthread -lm

ifeq ($(SANITIZE),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(FUZZ),1)
CFLAGS  += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

# --- sources -------------------------------------------------------------------------
mains        = $(filter %/main.c,$(1))
COMMON_SRCS   := $(wildcard common/*.c) $(wildcard policy/*.c)
AGENT_SRCS    := $(filter-out agent/main.c,$(wildcard agent/*.c))
UPLINK_SRCS   := $(filter-out agent/uplink/main.c,$(wildcard agent/uplink/*.c))
COLLECT_SRCS  := $(filter-out collectors/main.c,$(wildcard collectors/*.c))
CTL_SRCS      := $(wildcard ctl/*.c)
UNIT_SRCS     := $(wildcard tests/unit/test_*.c)
UNIT_HELPERS  := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
FUZZ_SRCS     := $(wildcard tests/fuzz/fuzz_*.c)
TOOL_SRCS     := $(wildcard tests/tools/*.c) $(wildcard bench/*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIB_COMMON  := $(BUILD)/libhogo-common.a
LIB_AGENT   := $(BUILD)/libhogo-agent.a
LIB_UPLINK  := $(BUILD)/libhogo-uplink.a
LIB_COLLECT := $(BUILD)/libhogo-collector.a
ALL_LIBS    := $(LIB_AGENT) $(LIB_UPLINK) $(LIB_COLLECT) $(LIB_COMMON)
LINK_LIBS   := -Wl,--start-group $(ALL_LIBS) -Wl,--end-group

# a binary is built once its main source exists
BINS := $(if $(wildcard agent/main.c),$(BUILD)/hogo-agent) \
        $(if $(wildcard agent/helper/main.c),$(BUILD)/hogo-agent-helper) \
        $(if $(wildcard agent/uplink/main.c),$(BUILD)/hogo-uplink) \
        $(if $(wildcard collectors/main.c),$(BUILD)/hogo-collector) \
        $(if $(CTL_SRCS),$(BUILD)/hogoctl)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/%,$(FUZZ_SRCS))
TOOL_BINS := $(patsubst %.c,$(BUILD)/%,$(TOOL_SRCS))
# gettext catalogues of the agent's notices: po/<lang>.po → <lang>/LC_MESSAGES/hogo-agent.mo
LOCALE_MOS := $(patsubst po/%.po,$(BUILD)/locale/%/LC_MESSAGES/hogo-agent.mo,$(wildcard po/*.po))

.PHONY: all bins unit-bins tool-bins check unit bench run install deb fuzz fuzzers \
        format lint clean deps bench-deps
all: bins unit-bins tool-bins $(LOCALE_MOS)

bins: $(BINS)
unit-bins: $(UNIT_BINS)
tool-bins: $(TOOL_BINS)

$(BUILD)/locale/%/LC_MESSAGES/hogo-agent.mo: po/%.po
	@mkdir -p $(@D)
	msgfmt --check -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB_COMMON): $(call obj,$(COMMON_SRCS))
$(LIB_AGENT): $(call obj,$(AGENT_SRCS))
$(LIB_UPLINK): $(call obj,$(UPLINK_SRCS))
$(LIB_COLLECT): $(call obj,$(COLLECT_SRCS))
$(ALL_LIBS):
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^ $(if $^,,$(BUILD)/empty.o)

$(BUILD)/empty.o:
	@mkdir -p $(@D)
	echo 'typedef int hogo_empty_unit;' | $(CC) -x c -c -o $@ -
$(ALL_LIBS): | $(BUILD)/empty.o

$(BUILD)/hogo-agent: $(BUILD)/agent/main.o $(ALL_LIBS)
# what the agent runs in a process of its own (notices, policy check): agent/agent_helper.h
$(BUILD)/hogo-agent-helper: $(BUILD)/agent/helper/main.o $(ALL_LIBS)
$(BUILD)/hogo-uplink: $(BUILD)/agent/uplink/main.o $(ALL_LIBS)
$(BUILD)/hogo-collector: $(BUILD)/collectors/main.o $(ALL_LIBS)
$(BUILD)/hogoctl: $(call obj,$(CTL_SRCS)) $(ALL_LIBS)
$(BINS):
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LINK_LIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(call obj,$(UNIT_HELPERS)) $(ALL_LIBS)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LINK_LIBS) $(LDLIBS)

$(BUILD)/tests/tools/% $(BUILD)/bench/%: | $(ALL_LIBS)
$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(ALL_LIBS)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LINK_LIBS) $(LDLIBS)
$(BUILD)/bench/%: $(BUILD)/bench/%.o $(ALL_LIBS)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LINK_LIBS) $(LDLIBS)

$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(ALL_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $(filter %.o,$^) $(LINK_LIBS) $(LDLIBS)

.SECONDARY:

-include $(shell find $(BUILD) -path $(BUILD)/peers -prune -o -name '*.d' -type f -print 2>/dev/null)

# --- tests -----------------------------------------------------------------------------
deps:
	@scripts/install-deps

# the test dependencies plus the peers the benchmarks measure against (build/peers/)
bench-deps:
	@scripts/install-deps --bench

check: deps
	$(MAKE) all
	$(MAKE) BUILD=build/asan SANITIZE=1 all
	tests/run

# --- fuzzing ---------------------------------------------------------------------------
fuzzers: $(FUZZ_BINS)

fuzz: deps
	$(MAKE) BUILD=build/fuzz CC=clang FUZZ=1 fuzzers
	tests/fuzz/run $(FUZZ_SECONDS)

# --- benchmarks, run, packaging ----------------------------------------------------------
bench: bench-deps all
	bench/run

run:
	@scripts/install-deps --run
	$(MAKE) bins
	scripts/run

deb:
	@echo "make deb: Debian packaging is not built yet (packaging/ is empty)" >&2
	@exit 1

install: bins $(LOCALE_MOS)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/hogo-agent $(BUILD)/hogo-uplink $(BUILD)/hogo-collector \
		$(DESTDIR)$(PREFIX)/sbin/
	install -m 0755 $(BUILD)/hogoctl $(DESTDIR)$(PREFIX)/bin/
	install -D -m 0755 $(BUILD)/hogo-agent-helper $(DESTDIR)$(PREFIX)/libexec/hogo/hogo-agent-helper
	install -d $(DESTDIR)$(PREFIX)/share/hogo/policy
	install -m 0644 policy/examples/*.json $(DESTDIR)$(PREFIX)/share/hogo/policy/
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/lib/sysusers.d \
		$(DESTDIR)$(PREFIX)/lib/tmpfiles.d
	install -m 0644 systemd/*.service $(DESTDIR)$(PREFIX)/lib/systemd/system/
	install -m 0644 systemd/hogo.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/hogo.conf
	install -m 0644 systemd/hogo.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/hogo.conf
	for mo in $(LOCALE_MOS); do lang=$${mo#$(BUILD)/locale/}; lang=$${lang%%/*}; \
		install -D -m 0644 $$mo $(DESTDIR)$(PREFIX)/share/locale/$$lang/LC_MESSAGES/hogo-agent.mo; done

# --- style ----------------------------------------------------------------------------
SRC_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build/*')

format:
	clang-format -i $(SRC_FILES)

# cppcheck cannot see __attribute__((cleanup)), so every _cleanup_free_ looks like a leak to
# it; leaks are caught instead by LeakSanitizer, which runs under every test of the ASan build.
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem --suppress=memleak \
		--library=scripts/cppcheck.cfg -D_GNU_SOURCE -I. \
		$(filter %.c,$(SRC_FILES))
	clang-tidy --quiet --warnings-as-errors='*' $(filter-out tests/fuzz/%,$(filter %.c,$(SRC_FILES))) \
		-- $(filter-out -Werror,$(CFLAGS))

clean:
	rm -rf build

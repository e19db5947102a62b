# ngx_postmark_module
#
#   make             build ngx_http_postmark_module.so for the installed nginx
#   make NGINX_SRC=/path/to/nginx-x.y.z    build against that source tree
#   make test        run every test against the installed nginx
#   make test-asan   the same tests against nginx 1.22.1 built with ASan+UBSan
#   make demo        install what is missing, build, and run the demo
#   make fuzz        the fuzz targets of the pure cores, FUZZ_TIME seconds each
#   make fuzz-corpus keep what long fuzz runs found, minimised, in t/fuzz
#   make bench       receiver throughput next to proxy_pass (docs/benchmarks.md)
#   make soak        half the receiver's capacity for 30 minutes: its memory
#   make faults      crashes, reloads and outages at larger counts: nothing
#                    acknowledged is lost (docs/reliability.md)

SHELL      := /bin/bash
ROOT       := $(CURDIR)
BUILD      := $(ROOT)/build

NGINX_SRC  ?=
NGINX_BIN  ?= /usr/sbin/nginx

SOURCES    := config $(wildcard ngx_postmark_module/*.[ch])

ifeq ($(NGINX_SRC),)
NGX_OBJS   := $(BUILD)/nginx-dev
else
NGX_OBJS   := $(BUILD)/nginx-custom
endif

MODULE_SO  := $(NGX_OBJS)/ngx_http_postmark_module.so

DEB_PKGS   := nginx nginx-dev libcjson-dev libcurl4-openssl-dev libssl-dev \
              libpcre2-dev zlib1g-dev dpkg-dev gcc make curl perl openssl \
              ca-certificates libio-socket-ssl-perl ruby-postmark

# the official Node.js SDK the tests drive, pinned by t/sdk/package-lock.json
SDK_DIR    := $(BUILD)/sdk

CFLAGS_UNIT := -std=c99 -Wall -Wextra -Werror -g -O1 \
               -fsanitize=address,undefined -fno-omit-frame-pointer

# the sanitizer build: Debian's source of the installed nginx version;
# NGX_DEBUG_PALLOC makes every pool allocation its own, so that ASan sees
# reads past one
ASAN_SRC   := $(BUILD)/src/nginx-1.22.1
ASAN_DIR   := $(BUILD)/asan
ASAN_NGX   := $(ASAN_DIR)/objs/nginx
SAN_ENV    := ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 \
              LSAN_OPTIONS=suppressions=$(ROOT)/t/lsan.supp \
              UBSAN_OPTIONS=print_stacktrace=1:suppressions=$(ROOT)/t/ubsan.supp

PROVE      := prove -r -I t/lib t/

FUZZ_TIME  ?= 60
FUZZ_DIR   := $(BUILD)/fuzz
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=undefined

.PHONY: all module deps test-tools sdk unit test test-asan fuzz fuzz-corpus \
        source demo bench soak faults clean

all: module

module: $(MODULE_SO)

# installs Debian packages only when one is missing (needs root then)
deps:
	@dpkg -s $(DEB_PKGS) >/dev/null 2>&1 || { \
	    apt-get update && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y \
	        --no-install-recommends $(DEB_PKGS); }

# what the tests check the status with: promtool for the metrics (from
# Debian's prometheus package, of which only promtool is used),
# JSON::Validator for the JSON against t/schema/status.json, and Debian's
# Chromium for the page (driven by playwright-core, from t/sdk)
TEST_PKGS  := prometheus libjson-validator-perl chromium

test-tools:
	@dpkg -s $(TEST_PKGS) >/dev/null 2>&1 || { apt-get update && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y \
	        --no-install-recommends $(TEST_PKGS); }

# Node.js comes from Debian when the machine has none (npm with it)
$(SDK_DIR)/node_modules/postmark/package.json: t/sdk/package.json \
                                               t/sdk/package-lock.json
	@command -v npm >/dev/null || { apt-get update && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y \
	        --no-install-recommends nodejs npm; }
	rm -rf $(SDK_DIR) && mkdir -p $(SDK_DIR)
	cp t/sdk/package.json t/sdk/package-lock.json $(SDK_DIR)/
	cd $(SDK_DIR) && npm ci --no-audit --no-fund --loglevel=error

sdk: $(SDK_DIR)/node_modules/postmark/package.json

ifeq ($(NGINX_SRC),)

# Debian's nginx-dev tree is configured with the flags of Debian's nginx
# binary (--with-compat among them), so the module loads into it; it is
# compiled as Debian compiles that binary and its own modules
DEBIAN_CC_OPT := -g -O2 -fstack-protector-strong -Wformat \
    -Werror=format-security -D_FORTIFY_SOURCE=2

$(NGX_OBJS)/Makefile: config Makefile
	@test -f /usr/share/nginx/src/conf_flags || $(MAKE) deps
	rm -rf $(NGX_OBJS) $(BUILD)/nginx-dev-src
	mkdir -p $(BUILD)
	cp -a /usr/share/nginx/src $(BUILD)/nginx-dev-src
	cd $(BUILD)/nginx-dev-src && source ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(ROOT) \
	        --with-cc-opt='$(DEBIAN_CC_OPT)' \
	        --builddir=$(NGX_OBJS) > $(BUILD)/configure.log || \
	    { cat $(BUILD)/configure.log; exit 1; }

$(MODULE_SO): $(NGX_OBJS)/Makefile $(SOURCES)
	$(MAKE) -C $(BUILD)/nginx-dev-src -f $(NGX_OBJS)/Makefile modules

else

$(NGX_OBJS)/Makefile: config
	rm -rf $(NGX_OBJS)
	mkdir -p $(BUILD)
	cd $(NGINX_SRC) && ./configure --with-compat --with-threads \
	    --add-dynamic-module=$(ROOT) --builddir=$(NGX_OBJS) \
	    > $(BUILD)/configure-custom.log || \
	    { cat $(BUILD)/configure-custom.log; exit 1; }

$(MODULE_SO): $(NGX_OBJS)/Makefile $(SOURCES)
	$(MAKE) -C $(NGINX_SRC) -f $(NGX_OBJS)/Makefile modules

endif

# the JSON scanner is linked into every core's tests: two cores read JSON
JSON_CORE  := ngx_postmark_module/ngx_http_postmark_json.c \
              ngx_postmark_module/ngx_http_postmark_json.h

# a core's other files, if it has more than one
route_PARTS := ngx_postmark_module/ngx_http_postmark_endpoint.c \
               ngx_postmark_module/ngx_http_postmark_endpoint.h \
               ngx_postmark_module/ngx_http_postmark_value.c

core_srcs   = ngx_postmark_module/ngx_http_postmark_$(1).c \
              $(filter %.c,$($(1)_PARTS)) \
              $(filter-out ngx_postmark_module/ngx_http_postmark_$(1).c,\
                  $(filter %.c,$(JSON_CORE)))

.SECONDEXPANSION:

# unit tests of the pure cores, with ASan and UBSan
$(BUILD)/unit/%_test: t/unit/%_test.c t/unit/tap.h \
                      ngx_postmark_module/ngx_http_postmark_%.c \
                      ngx_postmark_module/ngx_http_postmark_%.h $(JSON_CORE) \
                      $$($$*_PARTS)
	mkdir -p $(BUILD)/unit
	$(CC) $(CFLAGS_UNIT) -Ingx_postmark_module -It/unit -o $@ $< \
	    $(call core_srcs,$*) -lcjson -lcrypto -lz

UNIT_TESTS := json event route sign trim record answer

unit: $(UNIT_TESTS:%=$(BUILD)/unit/%_test)

# libFuzzer targets, built with clang and seeded with the tests' cases
$(FUZZ_DIR)/%_fuzz: t/fuzz/%_fuzz.c t/fuzz/fuzz.h \
                    ngx_postmark_module/ngx_http_postmark_%.c \
                    ngx_postmark_module/ngx_http_postmark_%.h $(JSON_CORE) \
                    $$($$*_PARTS)
	@command -v clang >/dev/null && \
	    test -n "$$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)" || \
	    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install \
	        -y --no-install-recommends clang libclang-rt-14-dev; }
	mkdir -p $(FUZZ_DIR)
	clang $(FUZZ_FLAGS) -Ingx_postmark_module -o $@ $< \
	    $(call core_srcs,$*) -lcjson -lcrypto -lz

FUZZ_TARGETS := route json event trim record answer

fuzz: deps $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%_fuzz)
	rm -rf $(FUZZ_DIR)/seeds
	for target in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_DIR)/seeds/$$target $(FUZZ_DIR)/corpus/$$target; \
	done
	perl t/fuzz/make-seeds.pl $(FUZZ_TARGETS:%=$(FUZZ_DIR)/seeds/%)
	for target in $(FUZZ_TARGETS); do \
	    mkdir -p t/fuzz/corpus/$$target; \
	    $(FUZZ_DIR)/$${target}_fuzz -max_total_time=$(FUZZ_TIME) \
	        -artifact_prefix=$(FUZZ_DIR)/$${target}- -print_final_stats=1 \
	        $(FUZZ_DIR)/corpus/$$target t/fuzz/corpus/$$target \
	        $(FUZZ_DIR)/seeds/$$target \
	        || exit 1; \
	done

# after a long run (build/fuzz/long/TARGET, see docs/reliability.md): what
# it found, minimised, into the corpus every "make fuzz" starts from
fuzz-corpus: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%_fuzz)
	for target in $(FUZZ_TARGETS); do \
	    mkdir -p t/fuzz/corpus/$$target $(FUZZ_DIR)/corpus/$$target; \
	    rm -rf $(FUZZ_DIR)/merged && mkdir -p $(FUZZ_DIR)/merged; \
	    $(FUZZ_DIR)/$${target}_fuzz -merge=1 $(FUZZ_DIR)/merged \
	        t/fuzz/corpus/$$target $(FUZZ_DIR)/corpus/$$target \
	        $$(test -d $(FUZZ_DIR)/long/$$target \
	           && echo $(FUZZ_DIR)/long/$$target) 2>/dev/null || exit 1; \
	    rm -rf t/fuzz/corpus/$$target && \
	    mv $(FUZZ_DIR)/merged t/fuzz/corpus/$$target; \
	done

test: deps test-tools module unit sdk
	perl tools/calls.pl $(NGX_OBJS)/addon/ngx_postmark_module
	TEST_NGINX_BINARY=$(NGINX_BIN) TEST_NGINX_MODULE=$(MODULE_SO) \
	TEST_UNIT_DIR=$(BUILD)/unit TEST_SDK_DIR=$(SDK_DIR) $(PROVE)

$(ASAN_SRC)/configure:
	@grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/ || { \
	    printf '%s\n' 'Types: deb-src' \
	        'URIs: http://deb.debian.org/debian' 'Suites: bookworm' \
	        'Components: main' \
	        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
	        > /etc/apt/sources.list.d/nginx-src.sources && \
	    apt-get update; }
	rm -rf $(BUILD)/src && mkdir -p $(BUILD)/src
	cd $(BUILD)/src && apt-get source nginx \
	    > $(BUILD)/src/apt-source.log 2>&1 || \
	    { cat $(BUILD)/src/apt-source.log; exit 1; }
	test -x $@

# Debian's source of nginx 1.22.1, for the sanitizer build
source: $(ASAN_SRC)/configure

$(ASAN_DIR)/Makefile: $(ASAN_SRC)/configure config
	rm -rf $(ASAN_DIR) && cp -a $(ASAN_SRC) $(ASAN_DIR)
	cd $(ASAN_DIR) && ./configure --with-debug --with-threads \
	    --with-http_ssl_module --with-http_v2_module --with-http_realip_module \
	    --add-module=$(ROOT) \
	    --with-cc-opt='-DNGX_DEBUG_PALLOC=1 -fsanitize=address,undefined -fno-omit-frame-pointer' \
	    --with-ld-opt='-fsanitize=address,undefined' \
	    > $(BUILD)/configure-asan.log || \
	    { cat $(BUILD)/configure-asan.log; exit 1; }

$(ASAN_NGX): $(ASAN_DIR)/Makefile $(SOURCES)
	$(MAKE) -C $(ASAN_DIR) -j2

test-asan: deps test-tools $(ASAN_NGX) unit sdk
	perl tools/calls.pl $(ASAN_DIR)/objs/addon/ngx_postmark_module
	$(SAN_ENV) TEST_NGINX_BINARY=$(ASAN_NGX) TEST_NGINX_MODULE= \
	TEST_UNIT_DIR=$(BUILD)/unit TEST_SDK_DIR=$(SDK_DIR) $(PROVE)

demo: deps module
	NGINX_BIN=$(NGINX_BIN) MODULE_SO=$(MODULE_SO) perl -I t/lib tools/demo.pl

# the crash, reload and outage scenarios at larger counts (minutes; not CI)
faults: deps module
	TEST_NGINX_BINARY=$(NGINX_BIN) TEST_NGINX_MODULE=$(MODULE_SO) \
	    perl -I t/lib tools/faults.pl $(FAULT_EVENTS)

# half of the receiver's capacity for SOAK_MINUTES (30): memory each minute
soak: deps module
	@command -v wrk >/dev/null || { apt-get update && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }
	TEST_NGINX_BINARY=$(NGINX_BIN) TEST_NGINX_MODULE=$(MODULE_SO) \
	    perl -I t/lib tools/soak.pl

# the peers too: njs (Debian's module for its nginx) and Node.js
bench: deps module
	@command -v wrk >/dev/null && command -v node >/dev/null && \
	    command -v perf >/dev/null && \
	    test -f /usr/lib/nginx/modules/ngx_http_js_module.so || \
	    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install \
	        -y wrk nodejs libnginx-mod-http-js linux-perf; }
	NGINX_BIN=$(NGINX_BIN) MODULE_SO=$(MODULE_SO) bench/run

clean:
	rm -rf $(BUILD)

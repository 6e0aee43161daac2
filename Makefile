# privstat: PGXS build.  See README.md for the two commands a new user runs.

MODULE_big = privstat
OBJS = \
	src/privstat.o \
	src/common.o \
	src/guc.o \
	src/keys.o \
	src/pseudonym.o \
	src/noise.o \
	src/dp_mech.o \
	src/dp_agg.o \
	src/pricing.o \
	src/numeric_float8.o \
	src/records.o \
	src/journal.o \
	src/budget.o \
	src/citus.o \
	src/policy/catalog.o \
	src/policy/level.o \
	src/policy/validate.o \
	src/policy/bound.o \
	src/policy/fused.o \
	src/policy/rowrules.o \
	src/policy/hooks.o \
	src/policy/total.o \
	src/policy/total_functions.o \
	src/policy/session.o \
	src/policy/excerpt.o \
	src/retention.o \
	src/audit.o \
	src/release_cache.o

EXTENSION = privstat
DATA = $(wildcard sql/install/privstat--*.sql)
PGFILEDESC = "privstat - pseudonyms, differential privacy and privacy budgets"

# pg_regress suites (sql/ + expected/).  The test runner (test/run.sh) runs
# these, the isolation specs and the TAP tests against throw-away clusters.
REGRESS = types pseudonym sealed opclass rotation copy dp_agg budget retention policy row_policy user_level user_level_random audit \
	one_pass release_cache \
	restricted_total \
	attack_rules attack_budget attack_privilege attack_found
REGRESS_OPTS = --temp-config=$(srcdir)/test/privstat.conf
ISOLATION = key_rotation budget_race purge_concurrent scope_change release_cache
ISOLATION_OPTS = --inputdir=$(srcdir)/test/isolation --temp-config=$(srcdir)/test/privstat.conf

# -Wall -Wextra apply to privstat's own code; PostgreSQL's server headers are
# treated as system headers so their own -Wextra noise does not hide ours.
PG_CPPFLAGS = -I$(srcdir)/include -isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CFLAGS = -Wall -Wextra -Werror=implicit-function-declaration
SHLIB_LINK = -lcrypto

PG_CONFIG ?= pg_config
# rebuild objects when a header they include changes
override autodepend = yes
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

ifeq ($(shell test $(VERSION_NUM) -lt 150000 && echo old),old)
$(error privstat requires PostgreSQL 15 or later)
endif

# test/run.sh reads the suite lists from here, so they are written once.
print-%:
	@echo '$($*)'

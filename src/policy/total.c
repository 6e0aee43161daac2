/*-------------------------------------------------------------------------
 *
 * total.c
 *	  The table of total functions: what may be evaluated on protected rows.
 *
 * An expression evaluated on a protected row must not be able to raise,
 * print, or take a data-dependent amount of time: an error or any other
 * observable difference that happens only when a given row is present is an
 * exact, noise-free answer about that row.  PostgreSQL's LEAKPROOF flag
 * does not promise that (it allows raising, for example on a collation
 * conflict or a range error), so privstat does not read it: a function may
 * run on protected rows only if this table names its OID, and only as the
 * table says:
 *	- total as it is, given a determinate collation where an argument is
 *	  collatable (and a deterministic one for pattern matching);
 *	- total once its constant arguments (a unit, a pattern, a format, a time
 *	  zone, bounds) are checked: each such argument must be a constant or a
 *	  parameter with a value, and one trial call on sample values raises for
 *	  a bad constant before any row is read;
 *	- replaced: PostgreSQL's version can raise on some values, so the rewrite
 *	  runs privstat's total version of the same signature instead
 *	  (privstat._total_*, src/policy/total_functions.c), which returns NULL
 *	  where PostgreSQL's would raise.
 * Everything else is refused at planning.  doc/policy.md lists the table
 * with the semantics of each replacement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "total.h"

/*
 * Built-in functions that cannot raise on any argument, given a
 * determinate collation where an argument is collatable: PostgreSQL 15's
 * LEAKPROOF functions (comparisons, hashes, widening casts), reviewed one by
 * one, and comparisons, rounding and widening casts that are total but not
 * marked LEAKPROOF (numeric comparisons, date/timestamp cross-type
 * comparisons, which PostgreSQL 15 makes without overflow).  Sorted at
 * first use.
 */
static Oid	always[] = {
	F_ABS_FLOAT8,				/* abs(double precision) */
	F_ABS_NUMERIC,				/* abs(numeric) */
	F_SIGN_NUMERIC,				/* sign(numeric) */
	F_SIGN_FLOAT8,				/* sign(double precision) */
	F_BOOLLT,		/* boollt(boolean, boolean) */
	F_BOOLGT,		/* boolgt(boolean, boolean) */
	F_BOOLEQ,		/* booleq(boolean, boolean) */
	F_CHAREQ,		/* chareq("char", "char") */
	F_NAMEEQ,		/* nameeq(name, name) */
	F_INT2EQ,		/* int2eq(smallint, smallint) */
	F_INT2LT,		/* int2lt(smallint, smallint) */
	F_INT4EQ,		/* int4eq(integer, integer) */
	F_INT4LT,		/* int4lt(integer, integer) */
	F_TEXTEQ,		/* texteq(text, text) */
	F_XIDEQ,		/* xideq(xid, xid) */
	F_CIDEQ,		/* cideq(cid, cid) */
	F_CHARNE,		/* charne("char", "char") */
	F_CHARLE,		/* charle("char", "char") */
	F_CHARGT,		/* chargt("char", "char") */
	F_CHARGE,		/* charge("char", "char") */
	F_BOOLNE,		/* boolne(boolean, boolean) */
	F_INT4NE,		/* int4ne(integer, integer) */
	F_INT2NE,		/* int2ne(smallint, smallint) */
	F_INT2GT,		/* int2gt(smallint, smallint) */
	F_INT4GT,		/* int4gt(integer, integer) */
	F_INT2LE,		/* int2le(smallint, smallint) */
	F_INT4LE,		/* int4le(integer, integer) */
	F_INT4GE,		/* int4ge(integer, integer) */
	F_INT2GE,		/* int2ge(smallint, smallint) */
	F_TEXTNE,		/* textne(text, text) */
	F_INT24EQ,		/* int24eq(smallint, integer) */
	F_INT42EQ,		/* int42eq(integer, smallint) */
	F_INT24LT,		/* int24lt(smallint, integer) */
	F_INT42LT,		/* int42lt(integer, smallint) */
	F_INT24GT,		/* int24gt(smallint, integer) */
	F_INT42GT,		/* int42gt(integer, smallint) */
	F_INT24NE,		/* int24ne(smallint, integer) */
	F_INT42NE,		/* int42ne(integer, smallint) */
	F_INT24LE,		/* int24le(smallint, integer) */
	F_INT42LE,		/* int42le(integer, smallint) */
	F_INT24GE,		/* int24ge(smallint, integer) */
	F_INT42GE,		/* int42ge(integer, smallint) */
	F_OIDEQ,		/* oideq(oid, oid) */
	F_OIDNE,		/* oidne(oid, oid) */
	F_FLOAT8UM,		/* float8um(double precision) */
	F_FLOAT8ABS,		/* float8abs(double precision) */
	F_DROUND,		/* dround(double precision) */
	F_DTRUNC,		/* dtrunc(double precision) */
	F_FLOAT8_INT2,		/* float8(smallint) */
	F_FLOAT4_INT2,		/* float4(smallint) */
	F_NAMEEQTEXT,		/* nameeqtext(name, text) */
	F_NAMELTTEXT,		/* namelttext(name, text) */
	F_NAMELETEXT,		/* nameletext(name, text) */
	F_NAMEGETEXT,		/* namegetext(name, text) */
	F_NAMEGTTEXT,		/* namegttext(name, text) */
	F_NAMENETEXT,		/* namenetext(name, text) */
	F_BTNAMETEXTCMP,		/* btnametextcmp(name, text) */
	F_TEXTEQNAME,		/* texteqname(text, name) */
	F_TEXTLTNAME,		/* textltname(text, name) */
	F_TEXTLENAME,		/* textlename(text, name) */
	F_TEXTGENAME,		/* textgename(text, name) */
	F_TEXTGTNAME,		/* textgtname(text, name) */
	F_TEXTNENAME,		/* textnename(text, name) */
	F_BTTEXTNAMECMP,		/* bttextnamecmp(text, name) */
	F_FLOAT4EQ,		/* float4eq(real, real) */
	F_FLOAT4NE,		/* float4ne(real, real) */
	F_FLOAT4LT,		/* float4lt(real, real) */
	F_FLOAT4LE,		/* float4le(real, real) */
	F_FLOAT4GT,		/* float4gt(real, real) */
	F_FLOAT4GE,		/* float4ge(real, real) */
	F_FLOAT8EQ,		/* float8eq(double precision, double precision) */
	F_FLOAT8NE,		/* float8ne(double precision, double precision) */
	F_FLOAT8LT,		/* float8lt(double precision, double precision) */
	F_FLOAT8LE,		/* float8le(double precision, double precision) */
	F_FLOAT8GT,		/* float8gt(double precision, double precision) */
	F_FLOAT8GE,		/* float8ge(double precision, double precision) */
	F_FLOAT48EQ,		/* float48eq(real, double precision) */
	F_FLOAT48NE,		/* float48ne(real, double precision) */
	F_FLOAT48LT,		/* float48lt(real, double precision) */
	F_FLOAT48LE,		/* float48le(real, double precision) */
	F_FLOAT48GT,		/* float48gt(real, double precision) */
	F_FLOAT48GE,		/* float48ge(real, double precision) */
	F_FLOAT84EQ,		/* float84eq(double precision, real) */
	F_FLOAT84NE,		/* float84ne(double precision, real) */
	F_FLOAT84LT,		/* float84lt(double precision, real) */
	F_FLOAT84LE,		/* float84le(double precision, real) */
	F_FLOAT84GT,		/* float84gt(double precision, real) */
	F_FLOAT84GE,		/* float84ge(double precision, real) */
	F_FLOAT8_FLOAT4,		/* float8(real) */
	F_INT4_INT2,		/* int4(smallint) */
	F_FLOAT8_INT4,		/* float8(integer) */
	F_FLOAT4_INT4,		/* float4(integer) */
	F_BTINT2CMP,		/* btint2cmp(smallint, smallint) */
	F_BTINT4CMP,		/* btint4cmp(integer, integer) */
	F_BTFLOAT4CMP,		/* btfloat4cmp(real, real) */
	F_BTFLOAT8CMP,		/* btfloat8cmp(double precision, double precision) */
	F_BTOIDCMP,		/* btoidcmp(oid, oid) */
	F_BTCHARCMP,		/* btcharcmp("char", "char") */
	F_BTNAMECMP,		/* btnamecmp(name, name) */
	F_BTTEXTCMP,		/* bttextcmp(text, text) */
	F_CASH_CMP,		/* cash_cmp(money, money) */
	F_BTOIDVECTORCMP,		/* btoidvectorcmp(oidvector, oidvector) */
	F_TEXT_NAME,		/* text(name) */
	F_NAME_TEXT,		/* name(text) */
	F_NAME_BPCHAR,		/* name(character) */
	F_TEXT_LARGER,		/* text_larger(text, text) */
	F_TEXT_SMALLER,		/* text_smaller(text, text) */
	F_INT8EQ,		/* int8eq(bigint, bigint) */
	F_INT8NE,		/* int8ne(bigint, bigint) */
	F_INT8LT,		/* int8lt(bigint, bigint) */
	F_INT8GT,		/* int8gt(bigint, bigint) */
	F_INT8LE,		/* int8le(bigint, bigint) */
	F_INT8GE,		/* int8ge(bigint, bigint) */
	F_INT84EQ,		/* int84eq(bigint, integer) */
	F_INT84NE,		/* int84ne(bigint, integer) */
	F_INT84LT,		/* int84lt(bigint, integer) */
	F_INT84GT,		/* int84gt(bigint, integer) */
	F_INT84LE,		/* int84le(bigint, integer) */
	F_INT84GE,		/* int84ge(bigint, integer) */
	F_INT8_INT4,		/* int8(integer) */
	F_FLOAT8_INT8,		/* float8(bigint) */
	F_OIDVECTORNE,		/* oidvectorne(oidvector, oidvector) */
	F_FLOAT4_INT8,		/* float4(bigint) */
	F_NAMELT,		/* namelt(name, name) */
	F_NAMELE,		/* namele(name, name) */
	F_NAMEGT,		/* namegt(name, name) */
	F_NAMEGE,		/* namege(name, name) */
	F_NAMENE,		/* namene(name, name) */
	F_OIDVECTORLT,		/* oidvectorlt(oidvector, oidvector) */
	F_OIDVECTORLE,		/* oidvectorle(oidvector, oidvector) */
	F_OIDVECTOREQ,		/* oidvectoreq(oidvector, oidvector) */
	F_OIDVECTORGE,		/* oidvectorge(oidvector, oidvector) */
	F_OIDVECTORGT,		/* oidvectorgt(oidvector, oidvector) */
	F_OIDLT,		/* oidlt(oid, oid) */
	F_OIDLE,		/* oidle(oid, oid) */
	F_TEXT_LT,		/* text_lt(text, text) */
	F_TEXT_LE,		/* text_le(text, text) */
	F_TEXT_GT,		/* text_gt(text, text) */
	F_TEXT_GE,		/* text_ge(text, text) */
	F_INT8_INT2,		/* int8(smallint) */
	F_MACADDR_EQ,		/* macaddr_eq(macaddr, macaddr) */
	F_MACADDR_LT,		/* macaddr_lt(macaddr, macaddr) */
	F_MACADDR_LE,		/* macaddr_le(macaddr, macaddr) */
	F_MACADDR_GT,		/* macaddr_gt(macaddr, macaddr) */
	F_MACADDR_GE,		/* macaddr_ge(macaddr, macaddr) */
	F_MACADDR_NE,		/* macaddr_ne(macaddr, macaddr) */
	F_MACADDR_CMP,		/* macaddr_cmp(macaddr, macaddr) */
	F_BTINT8CMP,		/* btint8cmp(bigint, bigint) */
	F_INT48EQ,		/* int48eq(integer, bigint) */
	F_INT48NE,		/* int48ne(integer, bigint) */
	F_INT48LT,		/* int48lt(integer, bigint) */
	F_INT48GT,		/* int48gt(integer, bigint) */
	F_INT48LE,		/* int48le(integer, bigint) */
	F_INT48GE,		/* int48ge(integer, bigint) */
	F_LOWER_TEXT,		/* lower(text) */
	F_UPPER_TEXT,		/* upper(text) */
	F_CASH_EQ,		/* cash_eq(money, money) */
	F_CASH_NE,		/* cash_ne(money, money) */
	F_CASH_LT,		/* cash_lt(money, money) */
	F_CASH_LE,		/* cash_le(money, money) */
	F_CASH_GT,		/* cash_gt(money, money) */
	F_CASH_GE,		/* cash_ge(money, money) */
	F_NETWORK_EQ,		/* network_eq(inet, inet) */
	F_NETWORK_LT,		/* network_lt(inet, inet) */
	F_NETWORK_LE,		/* network_le(inet, inet) */
	F_NETWORK_GT,		/* network_gt(inet, inet) */
	F_NETWORK_GE,		/* network_ge(inet, inet) */
	F_NETWORK_NE,		/* network_ne(inet, inet) */
	F_NETWORK_CMP,		/* network_cmp(inet, inet) */
	F_LSEG_EQ,		/* lseg_eq(lseg, lseg) */
	F_BPCHAREQ,		/* bpchareq(character, character) */
	F_BPCHARLT,		/* bpcharlt(character, character) */
	F_BPCHARLE,		/* bpcharle(character, character) */
	F_BPCHARGT,		/* bpchargt(character, character) */
	F_BPCHARGE,		/* bpcharge(character, character) */
	F_BPCHARNE,		/* bpcharne(character, character) */
	F_BPCHAR_LARGER,		/* bpchar_larger(character, character) */
	F_BPCHAR_SMALLER,		/* bpchar_smaller(character, character) */
	F_BPCHARCMP,		/* bpcharcmp(character, character) */
	F_DATE_EQ,		/* date_eq(date, date) */
	F_DATE_LT,		/* date_lt(date, date) */
	F_DATE_LE,		/* date_le(date, date) */
	F_DATE_GT,		/* date_gt(date, date) */
	F_DATE_GE,		/* date_ge(date, date) */
	F_DATE_NE,		/* date_ne(date, date) */
	F_DATE_CMP,		/* date_cmp(date, date) */
	F_TIME_LT,		/* time_lt(time without time zone, time without time zone) */
	F_TIME_LE,		/* time_le(time without time zone, time without time zone) */
	F_TIME_GT,		/* time_gt(time without time zone, time without time zone) */
	F_TIME_GE,		/* time_ge(time without time zone, time without time zone) */
	F_TIME_NE,		/* time_ne(time without time zone, time without time zone) */
	F_TIME_CMP,		/* time_cmp(time without time zone, time without time zone) */
	F_DATE_MI,		/* date_mi(date, date) */
	F_TIME_EQ,		/* time_eq(time without time zone, time without time zone) */
	F_TIMESTAMPTZ_EQ,		/* timestamptz_eq(timestamp with time zone, timestamp with time zone) */
	F_TIMESTAMPTZ_NE,		/* timestamptz_ne(timestamp with time zone, timestamp with time zone) */
	F_TIMESTAMPTZ_LT,		/* timestamptz_lt(timestamp with time zone, timestamp with time zone) */
	F_TIMESTAMPTZ_LE,		/* timestamptz_le(timestamp with time zone, timestamp with time zone) */
	F_TIMESTAMPTZ_GE,		/* timestamptz_ge(timestamp with time zone, timestamp with time zone) */
	F_TIMESTAMPTZ_GT,		/* timestamptz_gt(timestamp with time zone, timestamp with time zone) */
	F_INTERVAL_EQ,		/* interval_eq(interval, interval) */
	F_INTERVAL_NE,		/* interval_ne(interval, interval) */
	F_INTERVAL_LT,		/* interval_lt(interval, interval) */
	F_INTERVAL_LE,		/* interval_le(interval, interval) */
	F_INTERVAL_GE,		/* interval_ge(interval, interval) */
	F_INTERVAL_GT,		/* interval_gt(interval, interval) */
	F_TIMESTAMPTZ_MI,		/* timestamptz_mi(timestamp with time zone, timestamp with time zone) */
	F_CHARLT,		/* charlt("char", "char") */
	F_TIDNE,		/* tidne(tid, tid) */
	F_INT8_OID,		/* int8(oid) */
	F_TIDEQ,		/* tideq(tid, tid) */
	F_TIMESTAMPTZ_CMP,		/* timestamptz_cmp(timestamp with time zone, timestamp with time zone) */
	F_INTERVAL_CMP,		/* interval_cmp(interval, interval) */
	F_XIDEQINT4,		/* xideqint4(xid, integer) */
	F_ROUND_FLOAT8,		/* round(double precision) */
	F_TRUNC_FLOAT8,		/* trunc(double precision) */
	F_TIMETZ_EQ,		/* timetz_eq(time with time zone, time with time zone) */
	F_TIMETZ_NE,		/* timetz_ne(time with time zone, time with time zone) */
	F_TIMETZ_LT,		/* timetz_lt(time with time zone, time with time zone) */
	F_TIMETZ_LE,		/* timetz_le(time with time zone, time with time zone) */
	F_TIMETZ_GE,		/* timetz_ge(time with time zone, time with time zone) */
	F_TIMETZ_GT,		/* timetz_gt(time with time zone, time with time zone) */
	F_TIMETZ_CMP,		/* timetz_cmp(time with time zone, time with time zone) */
	F_INTERVAL_TIME,		/* interval(time without time zone) */
	F_NAME_VARCHAR,		/* name(character varying) */
	F_VARCHAR_NAME,		/* varchar(name) */
	F_CIRCLE_EQ,		/* circle_eq(circle, circle) */
	F_CIRCLE_NE,		/* circle_ne(circle, circle) */
	F_CIRCLE_LT,		/* circle_lt(circle, circle) */
	F_CIRCLE_GT,		/* circle_gt(circle, circle) */
	F_CIRCLE_LE,		/* circle_le(circle, circle) */
	F_CIRCLE_GE,		/* circle_ge(circle, circle) */
	F_LSEG_NE,		/* lseg_ne(lseg, lseg) */
	F_LSEG_LT,		/* lseg_lt(lseg, lseg) */
	F_LSEG_LE,		/* lseg_le(lseg, lseg) */
	F_LSEG_GT,		/* lseg_gt(lseg, lseg) */
	F_LSEG_GE,		/* lseg_ge(lseg, lseg) */
	F_BITEQ,		/* biteq(bit, bit) */
	F_BITNE,		/* bitne(bit, bit) */
	F_BITGE,		/* bitge(bit, bit) */
	F_BITGT,		/* bitgt(bit, bit) */
	F_BITLE,		/* bitle(bit, bit) */
	F_BITLT,		/* bitlt(bit, bit) */
	F_BITCMP,		/* bitcmp(bit, bit) */
	F_OIDGT,		/* oidgt(oid, oid) */
	F_OIDGE,		/* oidge(oid, oid) */
	F_VARBITEQ,		/* varbiteq(bit varying, bit varying) */
	F_VARBITNE,		/* varbitne(bit varying, bit varying) */
	F_VARBITGE,		/* varbitge(bit varying, bit varying) */
	F_VARBITGT,		/* varbitgt(bit varying, bit varying) */
	F_VARBITLE,		/* varbitle(bit varying, bit varying) */
	F_VARBITLT,		/* varbitlt(bit varying, bit varying) */
	F_VARBITCMP,		/* varbitcmp(bit varying, bit varying) */
	F_BOOLLE,		/* boolle(boolean, boolean) */
	F_BOOLGE,		/* boolge(boolean, boolean) */
	F_BTBOOLCMP,		/* btboolcmp(boolean, boolean) */
	F_NUMERIC_ABS,		/* numeric_abs(numeric) */
	F_ROUND_NUMERIC_INT4,		/* round(numeric, integer) */
	F_ROUND_NUMERIC,		/* round(numeric) */
	F_TRUNC_NUMERIC_INT4,		/* trunc(numeric, integer) */
	F_TRUNC_NUMERIC,		/* trunc(numeric) */
	F_CEIL_NUMERIC,		/* ceil(numeric) */
	F_FLOOR_NUMERIC,		/* floor(numeric) */
	F_NUMERIC_EQ,		/* numeric_eq(numeric, numeric) */
	F_NUMERIC_NE,		/* numeric_ne(numeric, numeric) */
	F_NUMERIC_GT,		/* numeric_gt(numeric, numeric) */
	F_NUMERIC_GE,		/* numeric_ge(numeric, numeric) */
	F_NUMERIC_LT,		/* numeric_lt(numeric, numeric) */
	F_NUMERIC_LE,		/* numeric_le(numeric, numeric) */
	F_NUMERIC_INT4,		/* numeric(integer) */
	F_NUMERIC_FLOAT4,		/* numeric(real) */
	F_NUMERIC_FLOAT8,		/* numeric(double precision) */
	F_FLOAT8_NUMERIC,		/* float8(numeric) */
	F_NUMERIC_CMP,		/* numeric_cmp(numeric, numeric) */
	F_NUMERIC_UMINUS,		/* numeric_uminus(numeric) */
	F_NUMERIC_INT8,		/* numeric(bigint) */
	F_NUMERIC_INT2,		/* numeric(smallint) */
	F_INT28EQ,		/* int28eq(smallint, bigint) */
	F_INT28NE,		/* int28ne(smallint, bigint) */
	F_INT28LT,		/* int28lt(smallint, bigint) */
	F_INT28GT,		/* int28gt(smallint, bigint) */
	F_INT28LE,		/* int28le(smallint, bigint) */
	F_INT28GE,		/* int28ge(smallint, bigint) */
	F_INT82EQ,		/* int82eq(bigint, smallint) */
	F_INT82NE,		/* int82ne(bigint, smallint) */
	F_INT82LT,		/* int82lt(bigint, smallint) */
	F_INT82GT,		/* int82gt(bigint, smallint) */
	F_INT82LE,		/* int82le(bigint, smallint) */
	F_INT82GE,		/* int82ge(bigint, smallint) */
	F_INT8UP,		/* int8up(bigint) */
	F_INT4UP,		/* int4up(integer) */
	F_FLOAT8UP,		/* float8up(double precision) */
	F_NUMERIC_UPLUS,		/* numeric_uplus(numeric) */
	F_BYTEAEQ,		/* byteaeq(bytea, bytea) */
	F_BYTEALT,		/* bytealt(bytea, bytea) */
	F_BYTEALE,		/* byteale(bytea, bytea) */
	F_BYTEAGT,		/* byteagt(bytea, bytea) */
	F_BYTEAGE,		/* byteage(bytea, bytea) */
	F_BYTEANE,		/* byteane(bytea, bytea) */
	F_BYTEACMP,		/* byteacmp(bytea, bytea) */
	F_TIMESTAMP_MI,		/* timestamp_mi(timestamp without time zone, timestamp without time zone) */
	F_TIMESTAMP_CMP,		/* timestamp_cmp(timestamp without time zone, timestamp without time zone) */
	F_TIMESTAMP_EQ,		/* timestamp_eq(timestamp without time zone, timestamp without time zone) */
	F_TIMESTAMP_NE,		/* timestamp_ne(timestamp without time zone, timestamp without time zone) */
	F_TIMESTAMP_LT,		/* timestamp_lt(timestamp without time zone, timestamp without time zone) */
	F_TIMESTAMP_LE,		/* timestamp_le(timestamp without time zone, timestamp without time zone) */
	F_TIMESTAMP_GE,		/* timestamp_ge(timestamp without time zone, timestamp without time zone) */
	F_TIMESTAMP_GT,		/* timestamp_gt(timestamp without time zone, timestamp without time zone) */
	F_TEXT_PATTERN_LT,		/* text_pattern_lt(text, text) */
	F_TEXT_PATTERN_LE,		/* text_pattern_le(text, text) */
	F_TEXT_PATTERN_GE,		/* text_pattern_ge(text, text) */
	F_TEXT_PATTERN_GT,		/* text_pattern_gt(text, text) */
	F_BTTEXT_PATTERN_CMP,		/* bttext_pattern_cmp(text, text) */
	F_CEILING_NUMERIC,		/* ceiling(numeric) */
	F_BPCHAR_PATTERN_LT,		/* bpchar_pattern_lt(character, character) */
	F_BPCHAR_PATTERN_LE,		/* bpchar_pattern_le(character, character) */
	F_BPCHAR_PATTERN_GE,		/* bpchar_pattern_ge(character, character) */
	F_BPCHAR_PATTERN_GT,		/* bpchar_pattern_gt(character, character) */
	F_BTBPCHAR_PATTERN_CMP,		/* btbpchar_pattern_cmp(character, character) */
	F_BTINT48CMP,		/* btint48cmp(integer, bigint) */
	F_BTINT84CMP,		/* btint84cmp(bigint, integer) */
	F_BTINT24CMP,		/* btint24cmp(smallint, integer) */
	F_BTINT42CMP,		/* btint42cmp(integer, smallint) */
	F_BTINT28CMP,		/* btint28cmp(smallint, bigint) */
	F_BTINT82CMP,		/* btint82cmp(bigint, smallint) */
	F_BTFLOAT48CMP,		/* btfloat48cmp(real, double precision) */
	F_BTFLOAT84CMP,		/* btfloat84cmp(double precision, real) */
	F_CEIL_FLOAT8,		/* ceil(double precision) */
	F_FLOOR_FLOAT8,		/* floor(double precision) */
	F_MD5_TEXT,		/* md5(text) */
	F_CEILING_FLOAT8,		/* ceiling(double precision) */
	F_MD5_BYTEA,		/* md5(bytea) */
	F_DATE_LT_TIMESTAMP,		/* date_lt_timestamp(date, timestamp without time zone) */
	F_DATE_LE_TIMESTAMP,		/* date_le_timestamp(date, timestamp without time zone) */
	F_DATE_EQ_TIMESTAMP,		/* date_eq_timestamp(date, timestamp without time zone) */
	F_DATE_GT_TIMESTAMP,		/* date_gt_timestamp(date, timestamp without time zone) */
	F_DATE_GE_TIMESTAMP,		/* date_ge_timestamp(date, timestamp without time zone) */
	F_DATE_NE_TIMESTAMP,		/* date_ne_timestamp(date, timestamp without time zone) */
	F_DATE_CMP_TIMESTAMP,		/* date_cmp_timestamp(date, timestamp without time zone) */
	F_DATE_LT_TIMESTAMPTZ,		/* date_lt_timestamptz(date, timestamp with time zone) */
	F_DATE_LE_TIMESTAMPTZ,		/* date_le_timestamptz(date, timestamp with time zone) */
	F_DATE_EQ_TIMESTAMPTZ,		/* date_eq_timestamptz(date, timestamp with time zone) */
	F_DATE_GT_TIMESTAMPTZ,		/* date_gt_timestamptz(date, timestamp with time zone) */
	F_DATE_GE_TIMESTAMPTZ,		/* date_ge_timestamptz(date, timestamp with time zone) */
	F_DATE_NE_TIMESTAMPTZ,		/* date_ne_timestamptz(date, timestamp with time zone) */
	F_DATE_CMP_TIMESTAMPTZ,		/* date_cmp_timestamptz(date, timestamp with time zone) */
	F_TIMESTAMP_LT_DATE,		/* timestamp_lt_date(timestamp without time zone, date) */
	F_TIMESTAMP_LE_DATE,		/* timestamp_le_date(timestamp without time zone, date) */
	F_TIMESTAMP_EQ_DATE,		/* timestamp_eq_date(timestamp without time zone, date) */
	F_TIMESTAMP_GT_DATE,		/* timestamp_gt_date(timestamp without time zone, date) */
	F_TIMESTAMP_GE_DATE,		/* timestamp_ge_date(timestamp without time zone, date) */
	F_TIMESTAMP_NE_DATE,		/* timestamp_ne_date(timestamp without time zone, date) */
	F_TIMESTAMP_CMP_DATE,		/* timestamp_cmp_date(timestamp without time zone, date) */
	F_TIMESTAMPTZ_LT_DATE,		/* timestamptz_lt_date(timestamp with time zone, date) */
	F_TIMESTAMPTZ_LE_DATE,		/* timestamptz_le_date(timestamp with time zone, date) */
	F_TIMESTAMPTZ_EQ_DATE,		/* timestamptz_eq_date(timestamp with time zone, date) */
	F_TIMESTAMPTZ_GT_DATE,		/* timestamptz_gt_date(timestamp with time zone, date) */
	F_TIMESTAMPTZ_GE_DATE,		/* timestamptz_ge_date(timestamp with time zone, date) */
	F_TIMESTAMPTZ_NE_DATE,		/* timestamptz_ne_date(timestamp with time zone, date) */
	F_TIMESTAMPTZ_CMP_DATE,		/* timestamptz_cmp_date(timestamp with time zone, date) */
	F_TIMESTAMP_LT_TIMESTAMPTZ,		/* timestamp_lt_timestamptz(timestamp without time zone, timestamp with time zone) */
	F_TIMESTAMP_LE_TIMESTAMPTZ,		/* timestamp_le_timestamptz(timestamp without time zone, timestamp with time zone) */
	F_TIMESTAMP_EQ_TIMESTAMPTZ,		/* timestamp_eq_timestamptz(timestamp without time zone, timestamp with time zone) */
	F_TIMESTAMP_GT_TIMESTAMPTZ,		/* timestamp_gt_timestamptz(timestamp without time zone, timestamp with time zone) */
	F_TIMESTAMP_GE_TIMESTAMPTZ,		/* timestamp_ge_timestamptz(timestamp without time zone, timestamp with time zone) */
	F_TIMESTAMP_NE_TIMESTAMPTZ,		/* timestamp_ne_timestamptz(timestamp without time zone, timestamp with time zone) */
	F_TIMESTAMP_CMP_TIMESTAMPTZ,		/* timestamp_cmp_timestamptz(timestamp without time zone, timestamp with time zone) */
	F_TIMESTAMPTZ_LT_TIMESTAMP,		/* timestamptz_lt_timestamp(timestamp with time zone, timestamp without time zone) */
	F_TIMESTAMPTZ_LE_TIMESTAMP,		/* timestamptz_le_timestamp(timestamp with time zone, timestamp without time zone) */
	F_TIMESTAMPTZ_EQ_TIMESTAMP,		/* timestamptz_eq_timestamp(timestamp with time zone, timestamp without time zone) */
	F_TIMESTAMPTZ_GT_TIMESTAMP,		/* timestamptz_gt_timestamp(timestamp with time zone, timestamp without time zone) */
	F_TIMESTAMPTZ_GE_TIMESTAMP,		/* timestamptz_ge_timestamp(timestamp with time zone, timestamp without time zone) */
	F_TIMESTAMPTZ_NE_TIMESTAMP,		/* timestamptz_ne_timestamp(timestamp with time zone, timestamp without time zone) */
	F_TIMESTAMPTZ_CMP_TIMESTAMP,		/* timestamptz_cmp_timestamp(timestamp with time zone, timestamp without time zone) */
	F_BOOL_INT4,		/* bool(integer) */
	F_INT4_BOOL,		/* int4(boolean) */
	F_TIDGT,		/* tidgt(tid, tid) */
	F_TIDLT,		/* tidlt(tid, tid) */
	F_TIDGE,		/* tidge(tid, tid) */
	F_TIDLE,		/* tidle(tid, tid) */
	F_BTTIDCMP,		/* bttidcmp(tid, tid) */
	F_UUID_LT,		/* uuid_lt(uuid, uuid) */
	F_UUID_LE,		/* uuid_le(uuid, uuid) */
	F_UUID_EQ,		/* uuid_eq(uuid, uuid) */
	F_UUID_GE,		/* uuid_ge(uuid, uuid) */
	F_UUID_GT,		/* uuid_gt(uuid, uuid) */
	F_UUID_NE,		/* uuid_ne(uuid, uuid) */
	F_UUID_CMP,		/* uuid_cmp(uuid, uuid) */
	F_PG_LSN_LT,		/* pg_lsn_lt(pg_lsn, pg_lsn) */
	F_PG_LSN_LE,		/* pg_lsn_le(pg_lsn, pg_lsn) */
	F_PG_LSN_EQ,		/* pg_lsn_eq(pg_lsn, pg_lsn) */
	F_PG_LSN_GE,		/* pg_lsn_ge(pg_lsn, pg_lsn) */
	F_PG_LSN_GT,		/* pg_lsn_gt(pg_lsn, pg_lsn) */
	F_PG_LSN_NE,		/* pg_lsn_ne(pg_lsn, pg_lsn) */
	F_PG_LSN_CMP,		/* pg_lsn_cmp(pg_lsn, pg_lsn) */
	F_XIDNEQ,		/* xidneq(xid, xid) */
	F_XIDNEQINT4,		/* xidneqint4(xid, integer) */
	F_SHA224,		/* sha224(bytea) */
	F_SHA256,		/* sha256(bytea) */
	F_SHA384,		/* sha384(bytea) */
	F_SHA512,		/* sha512(bytea) */
	F_STARTS_WITH,		/* starts_with(text, text) */
	F_MACADDR8_EQ,		/* macaddr8_eq(macaddr8, macaddr8) */
	F_MACADDR8_LT,		/* macaddr8_lt(macaddr8, macaddr8) */
	F_MACADDR8_LE,		/* macaddr8_le(macaddr8, macaddr8) */
	F_MACADDR8_GT,		/* macaddr8_gt(macaddr8, macaddr8) */
	F_MACADDR8_GE,		/* macaddr8_ge(macaddr8, macaddr8) */
	F_MACADDR8_NE,		/* macaddr8_ne(macaddr8, macaddr8) */
	F_MACADDR8_CMP,		/* macaddr8_cmp(macaddr8, macaddr8) */
	F_MACADDR8,		/* macaddr8(macaddr) */
	F_XID8LT,		/* xid8lt(xid8, xid8) */
	F_XID8GT,		/* xid8gt(xid8, xid8) */
	F_XID8LE,		/* xid8le(xid8, xid8) */
	F_XID8GE,		/* xid8ge(xid8, xid8) */
	F_XID8EQ,		/* xid8eq(xid8, xid8) */
	F_XID8NE,		/* xid8ne(xid8, xid8) */
	F_XID8CMP,		/* xid8cmp(xid8, xid8) */
};

/*
 * Functions total only under conditions: constant arguments (by 1-based
 * position, as a bit mask), a deterministic collation, or a replacement.
 */
typedef struct SpecialFunc
{
	Oid			oid;
	uint8		const_args;		/* bit (n - 1): argument n must be a checked constant */
	bool		deterministic;	/* pattern matching: a deterministic collation */
	bool		pattern;		/* argument 2 is a LIKE pattern */
	const char *replacement;	/* privstat's total version, same arguments */
} SpecialFunc;

#define ARG(n) (1 << ((n) - 1))

static const SpecialFunc special[] = {
	/* date/time: a unit, a zone or a format, and NULL outside the domain */
	{F_DATE_TRUNC_TEXT_TIMESTAMP, ARG(1), false, false, "_total_date_trunc"},
	{F_DATE_TRUNC_TEXT_TIMESTAMPTZ, ARG(1), false, false, "_total_date_trunc"},
	{F_DATE_TRUNC_TEXT_TIMESTAMPTZ_TEXT, ARG(1) | ARG(3), false, false, "_total_date_trunc"},
	{F_DATE_PART_TEXT_TIMESTAMP, ARG(1), false, false, "_total_date_part"},
	{F_DATE_PART_TEXT_TIMESTAMPTZ, ARG(1), false, false, "_total_date_part"},
	{F_DATE_PART_TEXT_DATE, ARG(1), false, false, "_total_date_part"},
	{F_EXTRACT_TEXT_TIMESTAMP, ARG(1), false, false, "_total_extract"},
	{F_EXTRACT_TEXT_TIMESTAMPTZ, ARG(1), false, false, "_total_extract"},
	{F_EXTRACT_TEXT_DATE, ARG(1), false, false, NULL},
	{F_TIMEZONE_TEXT_TIMESTAMP, ARG(1), false, false, "_total_timezone"},
	{F_TIMEZONE_TEXT_TIMESTAMPTZ, ARG(1), false, false, "_total_timezone"},
	{F_TO_CHAR_TIMESTAMP_TEXT, ARG(2), false, false, "_total_to_char"},
	{F_TO_CHAR_TIMESTAMPTZ_TEXT, ARG(2), false, false, "_total_to_char"},
	{F_TO_TIMESTAMP_FLOAT8, 0, false, false, "_total_to_timestamp"},
	{F_TIMESTAMP_DATE, 0, false, false, "_total_timestamp"},	/* timestamp(date) */
	{F_TIMESTAMPTZ_DATE, 0, false, false, "_total_timestamptz"},	/* timestamptz(date) */
	{F_TIMESTAMPTZ_TIMESTAMP, 0, false, false, "_total_timestamptz"},
	{F_TIMESTAMP_TIMESTAMPTZ, 0, false, false, "_total_timestamp"},
	{F_DATE_TIMESTAMP, 0, false, false, "_total_date"},	/* date(timestamp) */
	{F_DATE_TIMESTAMPTZ, 0, false, false, "_total_date"},
	{F_TIMESTAMP_PL_INTERVAL, 0, false, false, "_total_timestamp_pl_interval"},
	{F_TIMESTAMP_MI_INTERVAL, 0, false, false, "_total_timestamp_mi_interval"},
	{F_TIMESTAMPTZ_PL_INTERVAL, 0, false, false, "_total_timestamptz_pl_interval"},
	{F_TIMESTAMPTZ_MI_INTERVAL, 0, false, false, "_total_timestamptz_mi_interval"},
	{F_DATE_PL_INTERVAL, 0, false, false, "_total_date_pl_interval"},
	{F_DATE_MI_INTERVAL, 0, false, false, "_total_date_mi_interval"},
	{F_DATE_PLI, 0, false, false, "_total_date_pli"},
	{F_DATE_MII, 0, false, false, "_total_date_mii"},
	/* casts that narrow */
	{F_INT2_NUMERIC, 0, false, false, "_total_int2"},
	{F_INT4_NUMERIC, 0, false, false, "_total_int4"},
	{F_INT8_NUMERIC, 0, false, false, "_total_int8"},
	{F_INT2_FLOAT8, 0, false, false, "_total_int2"},
	{F_INT4_FLOAT8, 0, false, false, "_total_int4"},
	{F_INT8_FLOAT8, 0, false, false, "_total_int8"},
	{F_INT2_INT4, 0, false, false, "_total_int2"},
	{F_INT2_INT8, 0, false, false, "_total_int2"},
	{F_INT4_INT8, 0, false, false, "_total_int4"},
	{F_NUMERIC_NUMERIC_INT4, 0, false, false, "_total_numeric"},
	/* arithmetic */
	{F_INT4PL, 0, false, false, "_total_int4pl"},
	{F_INT4MI, 0, false, false, "_total_int4mi"},
	{F_INT4MUL, 0, false, false, "_total_int4mul"},
	{F_INT4DIV, 0, false, false, "_total_int4div"},
	{F_INT4MOD, 0, false, false, "_total_int4mod"},
	{F_INT4UM, 0, false, false, "_total_int4um"},
	{F_INT4ABS, 0, false, false, "_total_int4abs"},
	{F_INT8PL, 0, false, false, "_total_int8pl"},
	{F_INT8MI, 0, false, false, "_total_int8mi"},
	{F_INT8MUL, 0, false, false, "_total_int8mul"},
	{F_INT8DIV, 0, false, false, "_total_int8div"},
	{F_INT8MOD, 0, false, false, "_total_int8mod"},
	{F_INT8UM, 0, false, false, "_total_int8um"},
	{F_INT8ABS, 0, false, false, "_total_int8abs"},
	{F_INT84PL, 0, false, false, "_total_int84pl"},
	{F_INT84MI, 0, false, false, "_total_int84mi"},
	{F_INT84MUL, 0, false, false, "_total_int84mul"},
	{F_INT84DIV, 0, false, false, "_total_int84div"},
	{F_INT48PL, 0, false, false, "_total_int48pl"},
	{F_INT48MI, 0, false, false, "_total_int48mi"},
	{F_INT48MUL, 0, false, false, "_total_int48mul"},
	{F_INT48DIV, 0, false, false, "_total_int48div"},
	{F_ABS_INT4, 0, false, false, "_total_int4abs"},
	{F_ABS_INT8, 0, false, false, "_total_int8abs"},
	{F_MOD_INT4_INT4, 0, false, false, "_total_int4mod"},
	{F_MOD_INT8_INT8, 0, false, false, "_total_int8mod"},
	{F_MOD_NUMERIC_NUMERIC, 0, false, false, "_total_numeric_mod"},
	{F_NUMERIC_ADD, 0, false, false, "_total_numeric_add"},
	{F_NUMERIC_SUB, 0, false, false, "_total_numeric_sub"},
	{F_NUMERIC_MUL, 0, false, false, "_total_numeric_mul"},
	{F_NUMERIC_DIV, 0, false, false, "_total_numeric_div"},
	{F_NUMERIC_MOD, 0, false, false, "_total_numeric_mod"},
	{F_FLOAT8PL, 0, false, false, "_total_float8pl"},
	{F_FLOAT8MI, 0, false, false, "_total_float8mi"},
	{F_FLOAT8MUL, 0, false, false, "_total_float8mul"},
	{F_FLOAT8DIV, 0, false, false, "_total_float8div"},
	/* binning: constant bounds and count */
	{F_WIDTH_BUCKET_FLOAT8_FLOAT8_FLOAT8_INT4, ARG(2) | ARG(3) | ARG(4), false, false,
	"_total_width_bucket"},
	{F_WIDTH_BUCKET_NUMERIC_NUMERIC_NUMERIC_INT4, ARG(2) | ARG(3) | ARG(4), false, false,
	"_total_width_bucket"},
	/* pattern matching: a constant pattern, a deterministic collation */
	{F_TEXTLIKE, ARG(2), true, true, NULL},
	{F_TEXTNLIKE, ARG(2), true, true, NULL},
	{F_TEXTICLIKE, ARG(2), true, true, NULL},
	{F_TEXTICNLIKE, ARG(2), true, true, NULL},
	{F_BPCHARLIKE, ARG(2), true, true, NULL},
	{F_BPCHARNLIKE, ARG(2), true, true, NULL},
	{F_BPCHARICLIKE, ARG(2), true, true, NULL},
	{F_BPCHARICNLIKE, ARG(2), true, true, NULL},
	{F_STARTS_WITH, ARG(2), true, false, NULL},
};

/* privstat's own functions that are total: comparisons and hashes of its types */
static const char *const own_total[] = {
	"pseudonym_eq", "pseudonym_ne", "pseudonym_lt", "pseudonym_le", "pseudonym_gt",
	"pseudonym_ge", "pseudonym_cmp", "pseudonym_hash", "pseudonym_hash_extended",
	"pseudonym_version",
	"sealed_eq", "sealed_ne", "sealed_lt", "sealed_le", "sealed_gt", "sealed_ge",
	"sealed_cmp", "sealed_hash", "sealed_hash_extended", "sealed_version", "sealed_domain",
};

static bool always_sorted = false;

static const SpecialFunc *
special_func(Oid funcid)
{
	size_t		i;

	for (i = 0; i < lengthof(special); i++)
		if (special[i].oid == funcid)
			return &special[i];
	return NULL;
}

/* one of privstat's own total functions, or one of its replacements */
static bool
own_total_func(Oid funcid)
{
	Oid			nsp = get_func_namespace(funcid);
	char	   *name;
	size_t		i;

	if (!OidIsValid(nsp) || nsp != get_namespace_oid("privstat", true))
		return false;
	name = get_func_name(funcid);
	if (name == NULL)
		return false;
	if (strncmp(name, "_total_", 7) == 0)
		return true;
	for (i = 0; i < lengthof(own_total); i++)
		if (strcmp(name, own_total[i]) == 0)
			return true;
	return false;
}

bool
privstat_total_known(Oid funcid)
{
	if (!always_sorted)
	{
		qsort(always, lengthof(always), sizeof(Oid), oid_cmp);
		always_sorted = true;
	}
	if (bsearch(&funcid, always, lengthof(always), sizeof(Oid), oid_cmp) != NULL)
		return true;
	if (special_func(funcid) != NULL)
		return true;
	return funcid >= FirstGenbkiObjectId && own_total_func(funcid);
}

/* a collation that lets every comparison run: known, and deterministic if asked */
static bool
collation_ok(Oid collid, bool deterministic)
{
	if (!OidIsValid(collid))
		return false;
	return !deterministic || get_collation_isdeterministic(collid);
}

/* a value of type for the trial call: the epoch, zero, the empty string */
static Datum
sample_value(Oid type)
{
	switch (type)
	{
		case TEXTOID:
		case BPCHAROID:
			return CStringGetTextDatum("");
		case NUMERICOID:
			return NumericGetDatum(int64_to_numeric(0));
		case FLOAT8OID:
			return Float8GetDatum(0.0);
		default:				/* timestamp, timestamptz, date, integers: 0 */
			return (Datum) 0;
	}
}

/*
 * A LIKE or ILIKE pattern that ends with its escape character fails only
 * when a value matches everything before it, so a trial on one sample
 * value does not find it: the pattern is checked as the matcher would.
 */
static void
check_like_pattern(text *pattern)
{
	const char *p = VARDATA_ANY(pattern);
	int			len = VARSIZE_ANY_EXHDR(pattern);
	int			i;

	for (i = 0; i < len; i++)
		if (p[i] == '\\' && ++i == len)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_ESCAPE_SEQUENCE),
					 errmsg("LIKE pattern must not end with escape character")));
}

bool
privstat_total_value_ok(Datum value, int16 typlen, Size limit)
{
	if (typlen == -1)
		return VARSIZE_ANY(DatumGetPointer(value)) <= limit;
	if (typlen == -2)
		return strlen(DatumGetCString(value)) <= limit;
	return true;				/* fixed length */
}

bool
privstat_total_const_ok(Const *c, Size limit)
{
	return c->constisnull || c->constbyval || privstat_total_value_ok(c->constvalue, c->constlen, limit);
}

TotalVerdict
privstat_total_check(Oid funcid, List *args, Oid inputcollid,
					 TotalParamValue param_value, bool *wait_for_params, int *argno)
{
	const SpecialFunc *s;
	ListCell   *lc;
	Oid		   *argtypes;
	int			nargs;
	Datum		values[4];
	Const	   *consts[4] = {NULL, NULL, NULL, NULL};
	bool		collatable = false;

	*argno = 0;
	if (!privstat_total_known(funcid))
		return TOTAL_UNKNOWN;
	s = special_func(funcid);

	foreach(lc, args)
		if (type_is_collatable(exprType(lfirst(lc))))
			collatable = true;
	if (collatable && !collation_ok(inputcollid, false))
		return TOTAL_NO_COLLATION;
	if (s == NULL)
		return TOTAL_OK;
	/* replaced, but the replacement is not installed (privstat 0.2.0's SQL): refused */
	if (s->replacement != NULL && !OidIsValid(privstat_total_replacement(funcid)))
		return TOTAL_NOT_INSTALLED;
	if (collatable && s->deterministic && !collation_ok(inputcollid, true))
		return TOTAL_NONDETERMINISTIC;
	if (s->const_args == 0)
		return TOTAL_OK;

	/* the constant arguments: each a constant, or a parameter with a value */
	(void) get_func_signature(funcid, &argtypes, &nargs);
	if (nargs != list_length(args) || nargs > 4)
		return TOTAL_UNKNOWN;
	foreach(lc, args)
	{
		int			i = foreach_current_index(lc);
		Node	   *arg = strip_implicit_coercions(lfirst(lc));

		values[i] = sample_value(argtypes[i]);
		if ((s->const_args & ARG(i + 1)) == 0)
			continue;
		*argno = i + 1;
		if (IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN)
		{
			/*
			 * A parameter: checked with its value in a custom plan.  A
			 * generic plan cannot be checked; the caller makes it cost so
			 * much that PostgreSQL keeps to custom plans.
			 */
			Const	   *value = param_value((Param *) arg);

			if (value == NULL)
			{
				*wait_for_params = true;
				return TOTAL_OK;
			}
			arg = (Node *) value;
		}
		if (!IsA(arg, Const) || exprType(arg) != argtypes[i])
			return TOTAL_NOT_CONSTANT;
		consts[i] = (Const *) arg;
		if (s->pattern && !privstat_total_const_ok(consts[i], PRIVSTAT_MAX_PATTERN))
			return TOTAL_CONSTANT_TOO_LARGE;
		if (consts[i]->constisnull)
			return TOTAL_OK;	/* a strict function: NULL for every row */
		values[i] = consts[i]->constvalue;
	}
	*argno = 0;

	/* the trial: an error for a bad unit, zone, pattern or bound, before any row */
	if (s->pattern)
		check_like_pattern(DatumGetTextPP(values[1]));
	switch (nargs)
	{
		case 1:
			(void) OidFunctionCall1Coll(funcid, inputcollid, values[0]);
			break;
		case 2:
			(void) OidFunctionCall2Coll(funcid, inputcollid, values[0], values[1]);
			break;
		case 3:
			(void) OidFunctionCall3Coll(funcid, inputcollid, values[0], values[1], values[2]);
			break;
		case 4:
			(void) OidFunctionCall4Coll(funcid, inputcollid, values[0], values[1], values[2],
										values[3]);
			break;
	}
	return TOTAL_OK;
}

Oid
privstat_total_replacement(Oid funcid)
{
	const SpecialFunc *s = special_func(funcid);
	Oid		   *argtypes;
	int			nargs;

	if (s == NULL || s->replacement == NULL)
		return InvalidOid;
	(void) get_func_signature(funcid, &argtypes, &nargs);
	return LookupFuncName(list_make2(makeString("privstat"), makeString(unconstify(char *, s->replacement))),
						  nargs, argtypes, true);
}

/*
 * Replace, in place, every call of a function the table replaces by
 * privstat's total version, throughout a query and its subqueries.  The
 * replacement takes the same arguments, returns the same type and the same
 * value wherever PostgreSQL's does not raise, so every copy of an expression
 * (a GROUP BY key and its use in HAVING) stays equal to the others.
 */
static bool
substitute_walker(Node *node, void *context)
{
	Oid			repl;

	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *f = (FuncExpr *) node;

		if (OidIsValid(repl = privstat_total_replacement(f->funcid)))
			f->funcid = repl;
	}
	else if (IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr))
	{
		OpExpr	   *o = (OpExpr *) node;

		set_opfuncid(o);
		if (OidIsValid(repl = privstat_total_replacement(o->opfuncid)))
			o->opfuncid = repl;
	}
	else if (IsA(node, Query))
		return query_tree_walker((Query *) node, substitute_walker, context, 0);
	return expression_tree_walker(node, substitute_walker, context);
}

void
privstat_total_substitute(Query *query)
{
	(void) query_tree_walker(query, substitute_walker, NULL, 0);
}

/* the same in one expression (a scope condition) */
void
privstat_total_substitute_expr(Node *expr)
{
	(void) substitute_walker(expr, NULL);
}

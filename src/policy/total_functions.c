/*-------------------------------------------------------------------------
 *
 * total_functions.c
 *	  privstat's total versions of PostgreSQL functions that can raise.
 *
 * A function evaluated on a protected row must not be able to raise: an
 * error that happens only when a given row is present is an exact,
 * noise-free answer about that row (doc/policy.md, "Total expressions").
 * PostgreSQL's casts, arithmetic and date/time functions raise on overflow,
 * division by zero, NaN or timestamps near the ends of their range.  The
 * policy rewrite (src/policy/total.c) substitutes each of them, by OID, with
 * the function here that has the same arguments and result: it returns
 * NULL exactly where PostgreSQL's would raise, or, for the date/time
 * functions, outside a documented domain that is well inside the range
 * where PostgreSQL's cannot raise, and calls PostgreSQL's own function
 * otherwise, so that every other answer is PostgreSQL's.
 *
 * Every function here is IMMUTABLE or STABLE like the one it replaces,
 * STRICT and PARALLEL SAFE, and raises on no input.  The documented domain:
 *	- timestamps from 2000 BC to 290000 AD (and +-infinity);
 *	- intervals added to them with each field (months, days, time) within
 *	  1000 years.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

/* ---------------------------------------------------------------------------
 * The domain of the date/time functions
 * ---------------------------------------------------------------------------
 */

/* 2000 BC (astronomical year -1999) and 290000 AD, as timestamps */
#define SAFE_MIN_JULIAN 990941		/* date2j(-1999, 1, 1), 2000 BC */
#define SAFE_END_JULIAN 107641385	/* date2j(290000, 1, 1) */
#define SAFE_MIN_TIMESTAMP \
	((int64) (SAFE_MIN_JULIAN - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)
#define SAFE_END_TIMESTAMP \
	((int64) (SAFE_END_JULIAN - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)

/* 1000 years, per field of an interval */
#define SAFE_INTERVAL_MONTHS (1000 * MONTHS_PER_YEAR)
#define SAFE_INTERVAL_DAYS (1000 * 366)
#define SAFE_INTERVAL_USECS ((int64) SAFE_INTERVAL_DAYS * USECS_PER_DAY)

StaticAssertDecl(SAFE_MIN_JULIAN > 0 && SAFE_END_JULIAN < TIMESTAMP_END_JULIAN,
				 "the safe domain lies inside the range of timestamps");

/*
 * Inside the domain: a time zone (at most 16 hours), a truncation (at most
 * a millennium down) or an interval of the bounded size cannot leave the
 * range of timestamps.  Infinities pass: PostgreSQL's functions take them.
 */
static inline bool
timestamp_safe(Timestamp t)
{
	return TIMESTAMP_NOT_FINITE(t) || (t >= SAFE_MIN_TIMESTAMP && t < SAFE_END_TIMESTAMP);
}

static inline bool
interval_safe(const Interval *span)
{
	return span->month >= -SAFE_INTERVAL_MONTHS && span->month <= SAFE_INTERVAL_MONTHS &&
		span->day >= -SAFE_INTERVAL_DAYS && span->day <= SAFE_INTERVAL_DAYS &&
		span->time >= -SAFE_INTERVAL_USECS && span->time <= SAFE_INTERVAL_USECS;
}

static inline bool
date_safe(DateADT d)
{
	return DATE_NOT_FINITE(d) ||
		(d >= SAFE_MIN_JULIAN - POSTGRES_EPOCH_JDATE && d < SAFE_END_JULIAN - POSTGRES_EPOCH_JDATE);
}

/*
 * Call PostgreSQL's function on the same arguments once the guard holds.
 * The argument at index ts_arg is a timestamp (or timestamptz) that must be
 * inside the domain.
 */
#define GUARDED_TIMESTAMP(name, pgfn, ts_arg) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	if (!timestamp_safe(PG_GETARG_TIMESTAMP(ts_arg))) \
		PG_RETURN_NULL(); \
	return pgfn(fcinfo); \
}

/* date_trunc(text, timestamp), date_trunc(text, timestamptz[, text]) */
GUARDED_TIMESTAMP(privstat_total_timestamp_trunc, timestamp_trunc, 1)
GUARDED_TIMESTAMP(privstat_total_timestamptz_trunc, timestamptz_trunc, 1)
GUARDED_TIMESTAMP(privstat_total_timestamptz_trunc_zone, timestamptz_trunc_zone, 1)
/* date_part(text, timestamp[tz]), extract(field from timestamp[tz]) */
GUARDED_TIMESTAMP(privstat_total_timestamp_part, timestamp_part, 1)
GUARDED_TIMESTAMP(privstat_total_timestamptz_part, timestamptz_part, 1)
GUARDED_TIMESTAMP(privstat_total_extract_timestamp, extract_timestamp, 1)
GUARDED_TIMESTAMP(privstat_total_extract_timestamptz, extract_timestamptz, 1)
/* timestamp <-> timestamptz <-> date */
GUARDED_TIMESTAMP(privstat_total_timestamp_timestamptz, timestamp_timestamptz, 0)
GUARDED_TIMESTAMP(privstat_total_timestamptz_timestamp, timestamptz_timestamp, 0)
GUARDED_TIMESTAMP(privstat_total_timestamp_date, timestamp_date, 0)
GUARDED_TIMESTAMP(privstat_total_timestamptz_date, timestamptz_date, 0)
/* timezone(zone, timestamp[tz]): AT TIME ZONE */
GUARDED_TIMESTAMP(privstat_total_timestamp_zone, timestamp_zone, 1)
GUARDED_TIMESTAMP(privstat_total_timestamptz_zone, timestamptz_zone, 1)
/* to_char(timestamp[tz], format) */
GUARDED_TIMESTAMP(privstat_total_timestamp_to_char, timestamp_to_char, 0)
GUARDED_TIMESTAMP(privstat_total_timestamptz_to_char, timestamptz_to_char, 0)

/* timestamp[tz] +- interval */
#define GUARDED_INTERVAL(name, pgfn) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	if (!timestamp_safe(PG_GETARG_TIMESTAMP(0)) || !interval_safe(PG_GETARG_INTERVAL_P(1))) \
		PG_RETURN_NULL(); \
	return pgfn(fcinfo); \
}

GUARDED_INTERVAL(privstat_total_timestamp_pl_interval, timestamp_pl_interval)
GUARDED_INTERVAL(privstat_total_timestamp_mi_interval, timestamp_mi_interval)
GUARDED_INTERVAL(privstat_total_timestamptz_pl_interval, timestamptz_pl_interval)
GUARDED_INTERVAL(privstat_total_timestamptz_mi_interval, timestamptz_mi_interval)

/* date +- interval (a timestamp) */
#define GUARDED_DATE_INTERVAL(name, pgfn) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	if (!date_safe(PG_GETARG_DATEADT(0)) || !interval_safe(PG_GETARG_INTERVAL_P(1))) \
		PG_RETURN_NULL(); \
	return pgfn(fcinfo); \
}

GUARDED_DATE_INTERVAL(privstat_total_date_pl_interval, date_pl_interval)
GUARDED_DATE_INTERVAL(privstat_total_date_mi_interval, date_mi_interval)

/* date +- integer: NULL outside the domain (PostgreSQL's raises past its range) */
static Datum
date_plus_days(FunctionCallInfo fcinfo, int32 sign)
{
	DateADT		d = PG_GETARG_DATEADT(0);
	int32		days = PG_GETARG_INT32(1);

	if (DATE_NOT_FINITE(d))
		PG_RETURN_DATEADT(d);
	if (!date_safe(d) || days < -SAFE_INTERVAL_DAYS || days > SAFE_INTERVAL_DAYS)
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(d + sign * days);
}

PG_FUNCTION_INFO_V1(privstat_total_date_pli);
Datum
privstat_total_date_pli(PG_FUNCTION_ARGS)
{
	return date_plus_days(fcinfo, 1);
}

PG_FUNCTION_INFO_V1(privstat_total_date_mii);
Datum
privstat_total_date_mii(PG_FUNCTION_ARGS)
{
	return date_plus_days(fcinfo, -1);
}

/* date -> timestamp[tz]: NULL where it overflows */
PG_FUNCTION_INFO_V1(privstat_total_date_timestamp);
Datum
privstat_total_date_timestamp(PG_FUNCTION_ARGS)
{
	int			overflow = 0;
	Timestamp	t = date2timestamp_opt_overflow(PG_GETARG_DATEADT(0), &overflow);

	if (overflow != 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMP(t);
}

PG_FUNCTION_INFO_V1(privstat_total_date_timestamptz);
Datum
privstat_total_date_timestamptz(PG_FUNCTION_ARGS)
{
	int			overflow = 0;
	TimestampTz t = date2timestamptz_opt_overflow(PG_GETARG_DATEADT(0), &overflow);

	if (overflow != 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(t);
}

/* date_part(text, date): PostgreSQL's is SQL, date_part($1, $2::timestamp) */
PG_FUNCTION_INFO_V1(privstat_total_date_part_date);
Datum
privstat_total_date_part_date(PG_FUNCTION_ARGS)
{
	int			overflow = 0;
	Timestamp	t = date2timestamp_opt_overflow(PG_GETARG_DATEADT(1), &overflow);

	if (overflow != 0 || !timestamp_safe(t))
		PG_RETURN_NULL();
	return DirectFunctionCall2Coll(timestamp_part, PG_GET_COLLATION(), PG_GETARG_DATUM(0),
								   TimestampGetDatum(t));
}

/* to_timestamp(double precision): NULL for NaN and outside the domain */
PG_FUNCTION_INFO_V1(privstat_total_to_timestamp);
Datum
privstat_total_to_timestamp(PG_FUNCTION_ARGS)
{
	float8		seconds = PG_GETARG_FLOAT8(0);
	float8		since2000;

	if (isnan(seconds))
		PG_RETURN_NULL();
	if (!isinf(seconds))
	{
		since2000 = seconds - (float8) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
		if (!(since2000 >= (float8) SAFE_MIN_TIMESTAMP / USECS_PER_SEC &&
			  since2000 < (float8) SAFE_END_TIMESTAMP / USECS_PER_SEC))
			PG_RETURN_NULL();
	}
	return float8_timestamptz(fcinfo);
}

/* ---------------------------------------------------------------------------
 * Casts between numeric types
 * ---------------------------------------------------------------------------
 */

/* round half away from zero like numeric_int8, or NULL outside int64 */
static bool
numeric_to_int64(Numeric num, int64 *result)
{
	Datum		rounded;
	Datum		lo;
	Datum		hi;

	if (numeric_is_nan(num) || numeric_is_inf(num))
		return false;
	rounded = DirectFunctionCall2(numeric_round, NumericGetDatum(num), Int32GetDatum(0));
	lo = NumericGetDatum(int64_to_numeric(PG_INT64_MIN));
	hi = NumericGetDatum(int64_to_numeric(PG_INT64_MAX));
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, rounded, lo)) < 0 ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, rounded, hi)) > 0)
		return false;
	*result = DatumGetInt64(DirectFunctionCall1(numeric_int8, rounded));
	return true;
}

PG_FUNCTION_INFO_V1(privstat_total_numeric_int8);
Datum
privstat_total_numeric_int8(PG_FUNCTION_ARGS)
{
	int64		v;

	if (!numeric_to_int64(PG_GETARG_NUMERIC(0), &v))
		PG_RETURN_NULL();
	PG_RETURN_INT64(v);
}

PG_FUNCTION_INFO_V1(privstat_total_numeric_int4);
Datum
privstat_total_numeric_int4(PG_FUNCTION_ARGS)
{
	bool		error = false;
	int32		v = numeric_int4_opt_error(PG_GETARG_NUMERIC(0), &error);

	if (error)
		PG_RETURN_NULL();
	PG_RETURN_INT32(v);
}

PG_FUNCTION_INFO_V1(privstat_total_numeric_int2);
Datum
privstat_total_numeric_int2(PG_FUNCTION_ARGS)
{
	bool		error = false;
	int32		v = numeric_int4_opt_error(PG_GETARG_NUMERIC(0), &error);

	if (error || v < PG_INT16_MIN || v > PG_INT16_MAX)
		PG_RETURN_NULL();
	PG_RETURN_INT16((int16) v);
}

/* double precision -> integers: PostgreSQL rounds with rint() first */
#define FLOAT8_TO_INT(name, FITS, type, RETURN) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	float8		v = rint(PG_GETARG_FLOAT8(0)); \
	if (isnan(v) || !FITS(v)) \
		PG_RETURN_NULL(); \
	RETURN((type) v); \
}

FLOAT8_TO_INT(privstat_total_float8_int8, FLOAT8_FITS_IN_INT64, int64, PG_RETURN_INT64)
FLOAT8_TO_INT(privstat_total_float8_int4, FLOAT8_FITS_IN_INT32, int32, PG_RETURN_INT32)
FLOAT8_TO_INT(privstat_total_float8_int2, FLOAT8_FITS_IN_INT16, int16, PG_RETURN_INT16)

/* a narrower integer type */
#define INT_NARROW(name, GETARG, type, MIN, MAX, RETURN) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	int64		v = GETARG(0); \
	if (v < MIN || v > MAX) \
		PG_RETURN_NULL(); \
	RETURN((type) v); \
}

INT_NARROW(privstat_total_int8_int4, PG_GETARG_INT64, int32, PG_INT32_MIN, PG_INT32_MAX, PG_RETURN_INT32)
INT_NARROW(privstat_total_int8_int2, PG_GETARG_INT64, int16, PG_INT16_MIN, PG_INT16_MAX, PG_RETURN_INT16)
INT_NARROW(privstat_total_int4_int2, PG_GETARG_INT32, int16, PG_INT16_MIN, PG_INT16_MAX, PG_RETURN_INT16)

/*
 * numeric(numeric, typmod): the cast to numeric(p, s).  PostgreSQL raises
 * when the value rounded to s places needs more than p - s digits before
 * the point, or is infinite; NaN passes.
 */
PG_FUNCTION_INFO_V1(privstat_total_numeric_typmod);
Datum
privstat_total_numeric_typmod(PG_FUNCTION_ARGS)
{
	Numeric		num = PG_GETARG_NUMERIC(0);
	int32		typmod = PG_GETARG_INT32(1);
	int			precision;
	int			scale;
	Datum		rounded;
	Datum		limit;

	if (typmod >= (int32) VARHDRSZ && !numeric_is_nan(num))
	{
		if (numeric_is_inf(num))
			PG_RETURN_NULL();
		precision = ((typmod - VARHDRSZ) >> 16) & 0xffff;
		scale = ((((typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024);
		rounded = DirectFunctionCall1(numeric_abs,
									  DirectFunctionCall2(numeric_round, NumericGetDatum(num),
														  Int32GetDatum(scale)));
		limit = DirectFunctionCall3(numeric_in, CStringGetDatum(psprintf("1e%d", precision - scale)),
									ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, rounded, limit)) >= 0)
			PG_RETURN_NULL();
	}
	return numeric(fcinfo);
}

/* ---------------------------------------------------------------------------
 * Arithmetic: NULL on overflow and division by zero
 * ---------------------------------------------------------------------------
 */

#define INT_ARITH(name, type, GETARG, RETURN, overflow_op) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	type		result; \
	if (overflow_op(GETARG(0), GETARG(1), &result)) \
		PG_RETURN_NULL(); \
	RETURN(result); \
}

INT_ARITH(privstat_total_int4pl, int32, PG_GETARG_INT32, PG_RETURN_INT32, pg_add_s32_overflow)
INT_ARITH(privstat_total_int4mi, int32, PG_GETARG_INT32, PG_RETURN_INT32, pg_sub_s32_overflow)
INT_ARITH(privstat_total_int4mul, int32, PG_GETARG_INT32, PG_RETURN_INT32, pg_mul_s32_overflow)
INT_ARITH(privstat_total_int8pl, int64, PG_GETARG_INT64, PG_RETURN_INT64, pg_add_s64_overflow)
INT_ARITH(privstat_total_int8mi, int64, PG_GETARG_INT64, PG_RETURN_INT64, pg_sub_s64_overflow)
INT_ARITH(privstat_total_int8mul, int64, PG_GETARG_INT64, PG_RETURN_INT64, pg_mul_s64_overflow)

/* bigint with integer, either way round: computed in bigint */
#define INT_ARITH_MIXED(name, GETA, GETB, overflow_op) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	int64		result; \
	if (overflow_op((int64) GETA(0), (int64) GETB(1), &result)) \
		PG_RETURN_NULL(); \
	PG_RETURN_INT64(result); \
}

INT_ARITH_MIXED(privstat_total_int84pl, PG_GETARG_INT64, PG_GETARG_INT32, pg_add_s64_overflow)
INT_ARITH_MIXED(privstat_total_int84mi, PG_GETARG_INT64, PG_GETARG_INT32, pg_sub_s64_overflow)
INT_ARITH_MIXED(privstat_total_int84mul, PG_GETARG_INT64, PG_GETARG_INT32, pg_mul_s64_overflow)
INT_ARITH_MIXED(privstat_total_int48pl, PG_GETARG_INT32, PG_GETARG_INT64, pg_add_s64_overflow)
INT_ARITH_MIXED(privstat_total_int48mi, PG_GETARG_INT32, PG_GETARG_INT64, pg_sub_s64_overflow)
INT_ARITH_MIXED(privstat_total_int48mul, PG_GETARG_INT32, PG_GETARG_INT64, pg_mul_s64_overflow)

/* bigint / integer, integer / bigint: by zero is NULL, and so is MIN / -1 */
PG_FUNCTION_INFO_V1(privstat_total_int84div);
Datum
privstat_total_int84div(PG_FUNCTION_ARGS)
{
	int64		a = PG_GETARG_INT64(0);
	int32		b = PG_GETARG_INT32(1);

	if (b == 0 || (b == -1 && a == PG_INT64_MIN))
		PG_RETURN_NULL();
	PG_RETURN_INT64(a / b);
}

PG_FUNCTION_INFO_V1(privstat_total_int48div);
Datum
privstat_total_int48div(PG_FUNCTION_ARGS)
{
	int64		b = PG_GETARG_INT64(1);

	if (b == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64((int64) PG_GETARG_INT32(0) / b);
}

/* division and modulo: by zero is NULL; MIN / -1 overflows, MIN % -1 is 0 */
#define INT_DIVMOD(type, MIN, GETARG, RETURN, divname, modname) \
PG_FUNCTION_INFO_V1(divname); \
Datum \
divname(PG_FUNCTION_ARGS) \
{ \
	type		a = GETARG(0); \
	type		b = GETARG(1); \
	if (b == 0 || (b == -1 && a == MIN)) \
		PG_RETURN_NULL(); \
	RETURN(a / b); \
} \
PG_FUNCTION_INFO_V1(modname); \
Datum \
modname(PG_FUNCTION_ARGS) \
{ \
	type		a = GETARG(0); \
	type		b = GETARG(1); \
	if (b == 0) \
		PG_RETURN_NULL(); \
	if (b == -1) \
		RETURN(0); \
	RETURN(a % b); \
}

INT_DIVMOD(int32, PG_INT32_MIN, PG_GETARG_INT32, PG_RETURN_INT32,
		   privstat_total_int4div, privstat_total_int4mod)
INT_DIVMOD(int64, PG_INT64_MIN, PG_GETARG_INT64, PG_RETURN_INT64,
		   privstat_total_int8div, privstat_total_int8mod)

/* unary minus and abs: MIN has no positive counterpart */
#define INT_UNARY(type, MIN, GETARG, RETURN, umname, absname) \
PG_FUNCTION_INFO_V1(umname); \
Datum \
umname(PG_FUNCTION_ARGS) \
{ \
	type		a = GETARG(0); \
	if (a == MIN) \
		PG_RETURN_NULL(); \
	RETURN(-a); \
} \
PG_FUNCTION_INFO_V1(absname); \
Datum \
absname(PG_FUNCTION_ARGS) \
{ \
	type		a = GETARG(0); \
	if (a == MIN) \
		PG_RETURN_NULL(); \
	RETURN(a < 0 ? -a : a); \
}

INT_UNARY(int32, PG_INT32_MIN, PG_GETARG_INT32, PG_RETURN_INT32,
		  privstat_total_int4um, privstat_total_int4abs)
INT_UNARY(int64, PG_INT64_MIN, PG_GETARG_INT64, PG_RETURN_INT64,
		  privstat_total_int8um, privstat_total_int8abs)

/* numeric: PostgreSQL's own *_opt_error variants say where they would raise */
#define NUMERIC_ARITH(name, opt_error_fn) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	bool		error = false; \
	Numeric		result = opt_error_fn(PG_GETARG_NUMERIC(0), PG_GETARG_NUMERIC(1), &error); \
	if (error || result == NULL) \
		PG_RETURN_NULL(); \
	PG_RETURN_NUMERIC(result); \
}

NUMERIC_ARITH(privstat_total_numeric_add, numeric_add_opt_error)
NUMERIC_ARITH(privstat_total_numeric_sub, numeric_sub_opt_error)
NUMERIC_ARITH(privstat_total_numeric_mul, numeric_mul_opt_error)
NUMERIC_ARITH(privstat_total_numeric_div, numeric_div_opt_error)
NUMERIC_ARITH(privstat_total_numeric_mod, numeric_mod_opt_error)

/*
 * double precision: PostgreSQL raises when finite operands give an
 * infinite result (overflow), when nonzero operands give zero (underflow),
 * and on division of a non-NaN by zero (float.h, float8_pl ... float8_div).
 */
/* finite operands with an infinite sum or difference: an overflow */
#define FLOAT8_ADDSUB(name, op) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	float8		a = PG_GETARG_FLOAT8(0); \
	float8		b = PG_GETARG_FLOAT8(1); \
	float8		r = a op b; \
	if (unlikely(isinf(r)) && !isinf(a) && !isinf(b)) \
		PG_RETURN_NULL(); \
	PG_RETURN_FLOAT8(r); \
}

FLOAT8_ADDSUB(privstat_total_float8pl, +)
FLOAT8_ADDSUB(privstat_total_float8mi, -)

PG_FUNCTION_INFO_V1(privstat_total_float8mul);
Datum
privstat_total_float8mul(PG_FUNCTION_ARGS)
{
	float8		a = PG_GETARG_FLOAT8(0);
	float8		b = PG_GETARG_FLOAT8(1);
	float8		r = a * b;

	if (unlikely(isinf(r)) && !isinf(a) && !isinf(b))
		PG_RETURN_NULL();
	if (unlikely(r == 0.0) && a != 0.0 && b != 0.0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(r);
}

PG_FUNCTION_INFO_V1(privstat_total_float8div);
Datum
privstat_total_float8div(PG_FUNCTION_ARGS)
{
	float8		a = PG_GETARG_FLOAT8(0);
	float8		b = PG_GETARG_FLOAT8(1);
	float8		r;

	if (unlikely(b == 0.0) && !isnan(a))
		PG_RETURN_NULL();
	r = a / b;
	if (unlikely(isinf(r)) && !isinf(a))
		PG_RETURN_NULL();
	if (unlikely(r == 0.0) && a != 0.0 && !isinf(b))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(r);
}

/* ---------------------------------------------------------------------------
 * Binning
 * ---------------------------------------------------------------------------
 */

/*
 * width_bucket(operand, b1, b2, count): the bounds and the count are
 * constants checked at planning; an operand that is NaN raises, and so
 * does the bucket past the last, count + 1, when count is INT_MAX.
 */
PG_FUNCTION_INFO_V1(privstat_total_width_bucket_float8);
Datum
privstat_total_width_bucket_float8(PG_FUNCTION_ARGS)
{
	float8		operand = PG_GETARG_FLOAT8(0);
	float8		b1 = PG_GETARG_FLOAT8(1);
	float8		b2 = PG_GETARG_FLOAT8(2);
	int32		count = PG_GETARG_INT32(3);

	if (isnan(operand) || isnan(b1) || isnan(b2) || isinf(b1) || isinf(b2) ||
		count <= 0 || b1 == b2)
		PG_RETURN_NULL();
	/* past the last bucket is count + 1, which overflows only for INT_MAX */
	if (count == PG_INT32_MAX && (b1 < b2 ? operand >= b2 : operand <= b2))
		PG_RETURN_NULL();
	return width_bucket_float8(fcinfo);
}

PG_FUNCTION_INFO_V1(privstat_total_width_bucket_numeric);
Datum
privstat_total_width_bucket_numeric(PG_FUNCTION_ARGS)
{
	Numeric		operand = PG_GETARG_NUMERIC(0);
	Numeric		b1 = PG_GETARG_NUMERIC(1);
	Numeric		b2 = PG_GETARG_NUMERIC(2);
	int32		count = PG_GETARG_INT32(3);
	int32		order;

	if (numeric_is_nan(operand) ||
		numeric_is_nan(b1) || numeric_is_inf(b1) || numeric_is_nan(b2) || numeric_is_inf(b2) ||
		count <= 0)
		PG_RETURN_NULL();
	order = DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(b1), NumericGetDatum(b2)));
	if (order == 0)
		PG_RETURN_NULL();
	/* past the last bucket is count + 1, which overflows only for INT_MAX */
	if (count == PG_INT32_MAX)
	{
		int32		past = DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(operand),
															 NumericGetDatum(b2)));

		if (order < 0 ? past >= 0 : past <= 0)
			PG_RETURN_NULL();
	}
	return width_bucket_numeric(fcinfo);
}

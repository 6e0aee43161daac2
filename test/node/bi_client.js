'use strict';
// privstat driven by a real client, the way a BI tool drives it: node-postgres
// over the extended protocol (Parse/Bind/Execute), with parameters, named
// prepared statements run many times, and a cursor fetching in batches, as a
// role at access level 'aggregate'.  Checks answers against the truth within
// wide margins, the types the client receives, refusals, and the budget
// charged by every execution.  Prints TAP; exits non-zero on any failure.
//
// test/node/run.sh sets up the database and runs it.  Environment:
//   PGHOST, PGPORT, PGDATABASE   the server (a Unix socket directory works)
//   BI_USER                      the login role at level aggregate (no SELECT on orders)
//   ADMIN_USER                   a superuser: computes the truth, changes policies, reads budgets
//   BI_BUDGET                    the epsilon budget the harness gave BI_USER (nothing spent yet)
//   SERVER_LOG                   optional: the server log, written with log_statement = 'all'
//
// Noise: a DP count at epsilon e has a (discrete) Laplace noise of scale 1/e,
// a sum over bounds [lo, hi] scale max(|lo|, |hi|)/e, and an average adds
// noise of scale 2/e to its count and 2(hi - lo)/e to its centred sum.  Every
// margin below is 30 noise scales: P(|Z| > 30 scales) = exp(-30) < 1e-13 per
// draw, and a run makes fewer than 300 draws, so a correct build fails by
// chance with probability below 1e-10.

const fs = require('fs');
const { Client } = require('pg');
const Cursor = require('pg-cursor');

const K = 30;					// margin, in noise scales
const env = (name, dflt) => {
	const v = process.env[name] ?? dflt;
	if (v === undefined) {
		console.log(`Bail out! environment variable ${name} is not set`);
		process.exit(2);
	}
	return v;
};
const HOST = env('PGHOST', 'localhost');
const PORT = Number(env('PGPORT', '5432'));
const DB = env('PGDATABASE', 'postgres');
const BI_USER = env('BI_USER');
const ADMIN_USER = env('ADMIN_USER', 'postgres');
const BUDGET = Number(env('BI_BUDGET'));
// what a GROUP BY spends to select its groups (privstat.selection_epsilon's default)
const SEL = 1;
const SERVER_LOG = process.env.SERVER_LOG || '';

// ---------------------------------------------------------------- TAP
let n = 0;
let failures = 0;
function ok(cond, desc, diag) {
	n++;
	if (!cond)
		failures++;
	console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${desc}`);
	if (!cond && diag !== undefined)
		for (const line of (typeof diag === 'string' ? diag : JSON.stringify(diag, null, 1)).split('\n'))
			console.log(`#   ${line}`);
	return cond;
}
const note = (msg) => console.log(`# ${msg}`);

// ---------------------------------------------------------------- margins
const countMargin = (eps) => K / eps;
const sumMargin = (lo, hi, eps) => K * Math.max(Math.abs(lo), Math.abs(hi)) / eps;
// |avg' - avg| <= |Z2|/(2n') + |centred mean| |Z1|/n' with |Z1| <= K 2/eps,
// |Z2| <= K 2(hi - lo)/eps, |centred mean| <= (hi - lo)/2, n' >= n - 2K/eps
const avgMargin = (lo, hi, nrows, eps) => 2 * K * (hi - lo) / eps / (nrows - 2 * K / eps);

function near(got, truth, margin) {
	const g = Number(got);
	return Number.isFinite(g) && Math.abs(g - Number(truth)) <= margin;
}
const isBigintText = (v) => typeof v === 'string' && /^-?\d+$/.test(v);
const isNumericText = (v) => typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v);
const INT8 = 20, NUMERIC = 1700, FLOAT8 = 701;

// Run a query expected to fail; returns the error (or null if it succeeded).
async function refused(client, query) {
	try {
		const r = await client.query(query);
		return { unexpected: r.rows };
	} catch (e) {
		return e;
	}
}

async function main() {
	const bi = new Client({ host: HOST, port: PORT, database: DB, user: BI_USER,
							application_name: 'privstat-bi-client' });
	const admin = new Client({ host: HOST, port: PORT, database: DB, user: ADMIN_USER,
							   application_name: 'privstat-bi-admin' });
	for (const c of [bi, admin])
		c.on('error', (e) => { ok(false, `connection error: ${e.message}`); });
	await bi.connect();
	await admin.connect();

	// ---- budget bookkeeping: every DP execution must charge exactly its epsilon
	let expSpent = 0;
	let expCharges = 0;
	const adminStatus = async () => (await admin.query(
		'SELECT epsilon_limit, epsilon_spent, epsilon_remaining, charges FROM privstat.budget_status WHERE role = $1::regrole',
		[BI_USER])).rows[0];
	// the analyst reads its own row of the view (it must not see other roles')
	const ownStatus = async () => (await bi.query(
		'SELECT role::text AS role, epsilon_limit, epsilon_spent, epsilon_remaining, charges FROM privstat.budget_status')).rows;
	async function charged(desc, eps, charges = 1) {
		expSpent += eps;
		expCharges += charges;
		const s = await adminStatus();
		const what = charges === 0 ? 'charged nothing' :
			`charged epsilon ${eps} (${charges} charge${charges === 1 ? '' : 's'})`;
		const good = ok(s && s.epsilon_spent === expSpent && Number(s.charges) === expCharges, `${desc}: ${what}`,
						{ expected: { epsilon_spent: expSpent, charges: expCharges }, got: s });
		if (!good && s) {		// go on from what was charged: one wrong charge, one failure
			expSpent = s.epsilon_spent;
			expCharges = Number(s.charges);
		}
		return good;
	}
	const notCharged = (desc) => charged(desc, 0, 0);

	// ---- who we are, and the starting budget
	const who = (await bi.query({ text: 'SELECT current_user AS u, r.rolsuper AS su FROM pg_roles r WHERE r.rolname = $1', values: [BI_USER] })).rows[0];
	ok(who && who.u === BI_USER && who.su === false, `connected as ${BI_USER}, not a superuser`, who);
	const sel = (await bi.query({ text: "SELECT has_table_privilege('orders', 'SELECT') AS p", values: [] })).rows[0];
	ok(sel.p === false, `${BI_USER} holds no SELECT privilege on orders`, sel);
	const EPS = Number((await bi.query('SHOW privstat.epsilon')).rows[0]['privstat.epsilon']);
	ok(EPS > 0 && EPS <= 10, `privstat.epsilon is ${EPS}: each rewritten count/sum/avg costs it`);
	const own0 = await ownStatus();
	ok(own0.length === 1 && own0[0].role === BI_USER && own0[0].epsilon_limit === BUDGET &&
	   own0[0].epsilon_spent === 0 && own0[0].charges === '0',
	   `the analyst sees exactly its own budget row: limit ${BUDGET}, nothing spent`, own0);

	// the truth, from the superuser (privstat never restricts superusers)
	const truth = async (text, values) => (await admin.query({ text, values })).rows;

	// ---- 1. an unnamed parameterized query: Parse/Bind/Execute with values
	{
		const q = 'SELECT count(*) AS n, sum(amount) AS s, avg(amount) AS a FROM orders WHERE region = $1';
		for (const region of ['EU', 'US']) {
			const [t] = await truth(q, [region]);
			const r = await bi.query({ text: q, values: [region] });
			const row = r.rows[0];
			ok(r.rows.length === 1 && near(row.n, t.n, countMargin(EPS)) &&
			   near(row.s, t.s, sumMargin(0, 100, EPS)) && near(row.a, t.a, avgMargin(0, 100, Number(t.n), EPS)),
			   `unnamed statement, region = '${region}': count, sum, avg within ${K} noise scales of the truth`,
			   { got: row, truth: t });
			ok(r.fields.map((f) => f.dataTypeID).join() === [INT8, NUMERIC, NUMERIC].join() &&
			   isBigintText(row.n) && isNumericText(row.s) && isNumericText(row.a),
			   `unnamed statement, region = '${region}': count arrives as bigint text, sum and avg(numeric) as numeric text`,
			   { types: r.fields.map((f) => f.dataTypeID), row });
			await charged(`unnamed statement, region = '${region}' (3 aggregates)`, 3 * EPS);
		}
	}

	// ---- 2. a named prepared statement, parsed once, executed 8 times with
	// different parameters: past the 5 custom plans after which PostgreSQL may
	// switch to a generic plan.  Every execution is charged.
	{
		const text = 'SELECT count(*) AS n, sum(amount) AS s FROM orders WHERE region = $1 AND amount >= $2';
		const params = [['EU', 10], ['US', 10], ['EU', 0], ['US', 40], ['EU', 25], ['US', 0], ['EU', 48], ['US', 20]];
		let answers = true, types = true;
		const diag = [];
		for (const [i, values] of params.entries()) {
			const [t] = await truth(text, values);
			const r = await bi.query({ name: 'q_region', text, values });
			const row = r.rows[0];
			const good = near(row.n, t.n, countMargin(EPS)) && near(row.s, t.s ?? 0, sumMargin(0, 100, EPS));
			answers = answers && good;
			types = types && r.fields[0].dataTypeID === INT8 && r.fields[1].dataTypeID === NUMERIC &&
				isBigintText(row.n) && isNumericText(row.s);
			if (!good)
				diag.push({ values, got: row, truth: t });
			await charged(`named statement q_region, execution ${i + 1} (${values.join(', ')}; 2 aggregates)`, 2 * EPS);
		}
		ok(answers, `named statement q_region: all ${params.length} answers within ${K} noise scales of the truth`, diag);
		ok(types, 'named statement q_region: bigint and numeric columns on every execution');
		const ps = (await bi.query({ text: 'SELECT from_sql, generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1', values: ['q_region'] })).rows;
		ok(ps.length === 1 && ps[0].from_sql === false &&
		   Number(ps[0].generic_plans) + Number(ps[0].custom_plans) === params.length,
		   `q_region is one protocol-level prepared statement, planned ${params.length} times (custom ${ps[0] && ps[0].custom_plans}, generic ${ps[0] && ps[0].generic_plans})`, ps);
	}

	// ---- 3. the same under a forced generic plan: the parameters stay
	// parameters in the plan privstat validated
	{
		await bi.query('SET plan_cache_mode = force_generic_plan');
		const text = 'SELECT count(*) AS n FROM orders WHERE qty = $1 AND region = $2';
		let answers = true;
		const diag = [];
		for (const values of [[1, 'EU'], [2, 'US'], [4, 'EU']]) {
			const [t] = await truth(text, values);
			const r = await bi.query({ name: 'q_generic', text, values });
			if (!near(r.rows[0].n, t.n, countMargin(EPS))) {
				answers = false;
				diag.push({ values, got: r.rows[0], truth: t });
			}
			await charged(`generic plan q_generic (${values.join(', ')})`, EPS);
		}
		ok(answers, 'generic plan q_generic: answers within margins', diag);
		const ps = (await bi.query({ text: 'SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1', values: ['q_generic'] })).rows;
		ok(ps.length === 1 && ps[0].generic_plans === '3' && ps[0].custom_plans === '0',
		   'q_generic ran its generic plan 3 times', ps);
		await bi.query('RESET plan_cache_mode');
	}

	// ---- 4. integer sums, timestamptz parameters (JS Dates), count(col)
	{
		const text = 'SELECT sum(qty) AS s, avg(qty) AS a, count(qty) AS c FROM orders WHERE created >= $1 AND created < $2';
		const ranges = [['2026-01-01T00:00:00Z', '2026-04-01T00:00:00Z'],
						['2026-04-01T00:00:00Z', '2027-04-01T00:00:00Z'],
						['2026-03-15T12:00:00Z', '2026-08-01T00:00:00Z']];
		for (const [from, to] of ranges) {
			const values = [new Date(from), new Date(to)];
			const [t] = await truth(text, values);
			const r = await bi.query({ name: 'q_qty', text, values });
			const row = r.rows[0];
			ok(near(row.s, t.s, sumMargin(0, 4, EPS)) && near(row.a, t.a, avgMargin(0, 4, Number(t.c), EPS)) &&
			   near(row.c, t.c, countMargin(EPS)),
			   `q_qty ${from.slice(0, 10)}..${to.slice(0, 10)}: sum, avg, count(qty) within margins`, { got: row, truth: t });
			ok(r.fields.map((f) => f.dataTypeID).join() === [INT8, NUMERIC, INT8].join() &&
			   isBigintText(row.s) && isNumericText(row.a) && isBigintText(row.c),
			   `q_qty ${from.slice(0, 10)}..${to.slice(0, 10)}: sum(integer) arrives as bigint, avg(integer) as numeric`,
			   r.fields.map((f) => f.dataTypeID));
			await charged(`q_qty ${from.slice(0, 10)}..${to.slice(0, 10)} (3 aggregates)`, 3 * EPS);
		}
	}

	// ---- 5. privstat's own aggregates, epsilon passed as a parameter (an
	// unnamed statement is planned with its values, so epsilon is a constant)
	{
		const text = 'SELECT privstat.dp_count(id, $1::float8) AS n, privstat.dp_avg(amount, 0, 100, $2::float8) AS a FROM orders WHERE region = $3';
		const [t] = await truth('SELECT count(*) AS n, avg(amount) AS a FROM orders WHERE region = $1', ['EU']);
		const r = await bi.query({ text, values: [0.25, 0.5, 'EU'] });
		const row = r.rows[0];
		ok(near(row.n, t.n, countMargin(0.25)) && near(row.a, t.a, avgMargin(0, 100, Number(t.n), 0.5)),
		   `dp_count at epsilon 0.25 and dp_avg at 0.5 from parameters: within margins`, { got: row, truth: t });
		ok(r.fields[0].dataTypeID === INT8 && r.fields[1].dataTypeID === FLOAT8 &&
		   isBigintText(row.n) && typeof row.a === 'number',
		   'dp_count arrives as bigint text, dp_avg as double precision (a JS number)', { row, types: r.fields.map((f) => f.dataTypeID) });
		await charged('dp_count(0.25) + dp_avg(0.5)', 0.75);
	}

	// ---- 6. a join with an unprotected table, GROUP BY, HAVING with a parameter
	{
		const text = 'SELECT p.category, count(*) AS n, avg(o.amount) AS a FROM orders o JOIN products p ON p.id = o.product_id ' +
			'WHERE o.region = $1 GROUP BY p.category HAVING count(*) > $2 ORDER BY p.category';
		const t = await truth(text, ['US', 100]);
		const r = await bi.query({ text, values: ['US', 100] });
		ok(r.rows.length === t.length &&
		   r.rows.every((row, i) => row.category === t[i].category && near(row.n, t[i].n, countMargin(EPS)) &&
						near(row.a, t[i].a, avgMargin(0, 100, Number(t[i].n), EPS))),
		   'join with an unprotected table, GROUP BY and HAVING $2: every group within margins', { got: r.rows, truth: t });
		await charged('join, GROUP BY (2 aggregates and group selection, one charge for all groups)', 2 * EPS + SEL);
	}

	// ---- 7. a cursor: the portal is fetched in batches (Execute with a row
	// limit, PortalSuspended), and charged once, when it starts
	{
		const text = "SELECT date_trunc('month', created) AS m, count(*) AS n FROM orders WHERE region = $1 GROUP BY 1 ORDER BY 1";
		const t = await truth(text, ['EU']);
		const cur = bi.query(new Cursor(text, ['EU']));
		const first = await cur.read(3);
		await charged('cursor, after the first batch of 3 groups', EPS + SEL);
		const rest = await cur.read(1000);
		await cur.close();
		const rows = first.concat(rest);
		ok(first.length === 3 && rows.length === t.length &&
		   rows.every((row, i) => row.m.getTime() === t[i].m.getTime() && near(row.n, t[i].n, countMargin(EPS))),
		   `cursor: ${t.length} monthly groups in two fetches, each within margins`, { got: rows, truth: t });
		await notCharged('cursor, the later fetches and the close');
	}

	// ---- 8. a charge is not refunded by ROLLBACK
	{
		await bi.query('BEGIN');
		await bi.query({ text: 'SELECT count(*) FROM orders WHERE qty >= $1', values: [0] });
		await bi.query('ROLLBACK');
		await charged('a DP query in a transaction rolled back, not refunded', EPS);
	}

	// ---- 9. refusals, all SQLSTATE 42501, naming the rule, with a hint;
	// none of them charges anything, and the connection stays usable
	{
		let e = await refused(bi, { text: 'SELECT * FROM orders WHERE region = $1', values: ['EU'] });
		ok(e.code === '42501' && /returning protected rows is not allowed over protected table orders/.test(e.message) &&
		   typeof e.hint === 'string' && e.hint.length > 0,
		   'SELECT * of the protected table (extended protocol): 42501, names the rule, has a hint',
		   { code: e.code, message: e.message, hint: e.hint, unexpected: e.unexpected });
		e = await refused(bi, 'SELECT * FROM orders');
		ok(e.code === '42501' && /returning protected rows is not allowed over protected table orders/.test(e.message) && e.hint,
		   'SELECT * of the protected table (simple protocol): refused the same way', { code: e.code, message: e.message });
		for (let i = 1; i <= 2; i++) {
			e = await refused(bi, { name: 'q_raw', text: 'SELECT amount FROM orders WHERE user_id = $1', values: [7 + i] });
			ok(e.code === '42501' && /returning protected rows is not allowed/.test(e.message) && e.hint,
			   `a named statement returning rows of one user: refused at execution ${i}`, { code: e.code, message: e.message });
		}
		e = await refused(bi, "SELECT count(*) FROM orders WHERE region ~ '^E'");
		ok(e.code === '42501' && /"region ~ '\^E'" is not allowed in WHERE over protected table orders/.test(e.message) &&
		   /table of total functions/.test(e.detail) && e.hint,
		   "WHERE region ~ '^E': a function outside the table of total functions is refused (42501), quoting the SQL",
		   { code: e.code, message: e.message, detail: e.detail });
		e = await refused(bi, { text: 'SELECT count(*) FROM orders WHERE region LIKE $1', values: ['E' + '%'.repeat(300)] });
		ok(e.code === '42501' && /longer than 256 bytes/.test(e.message) && e.detail,
		   'WHERE region LIKE $1 with a 301-byte pattern: refused with its value', { code: e.code, message: e.message });
		e = await refused(bi, { text: 'SELECT count(*) FROM orders WHERE CASE WHEN user_id = $2 THEN $1::text::int ELSE 1 END = 1', values: ['x', 7] });
		ok(e.code === '42501' && /cast to integer through text/.test(e.message),
		   'a parameter cast through text to integer, evaluated for one user only: refused', { code: e.code, message: e.message });
		// a division by zero that reads no row is raised while planning, the
		// same for a user who exists and one who does not: no error channel
		const present = await refused(bi, { text: 'SELECT count(*) FROM orders WHERE CASE WHEN user_id = $1 THEN 1/0 ELSE 1 END = 1', values: [7] });
		const absent = await refused(bi, { text: 'SELECT count(*) FROM orders WHERE CASE WHEN user_id = $1 THEN 1/0 ELSE 1 END = 1', values: [100000] });
		ok(present.code !== undefined && present.code === absent.code && present.message === absent.message,
		   'CASE WHEN user_id = $1 THEN 1/0: the same error for a present and an absent user',
		   { present: [present.code, present.message], absent: [absent.code, absent.message] });
		e = await refused(bi, { text: 'SELECT max(amount) FROM orders WHERE region = $1', values: ['EU'] });
		ok(e.code === '42501' && /max\(numeric\) is not differentially private/.test(e.message) && e.hint,
		   'max(amount): an aggregate that is not DP is refused', { code: e.code, message: e.message });
		e = await refused(bi, { text: 'UPDATE orders SET amount = $1 WHERE user_id = $2', values: [0, 7] });
		ok(e.code === '42501', 'UPDATE of the protected table: refused', { code: e.code, message: e.message });
		e = await refused(bi, { text: 'SELECT privstat.set_budget($1::regrole, 1000000)', values: [BI_USER] });
		ok(e.code === '42501', 'the analyst cannot raise its own budget', { code: e.code, message: e.message });
		const r = await bi.query({ text: 'SELECT name FROM products WHERE id = $1', values: [3] });
		ok(r.rows.length === 1 && r.rows[0].name === 'p3', 'after the refusals the connection answers an ordinary query', r.rows);
		await notCharged('all the refusals');
	}

	// ---- 10. a policy change reaches a prepared statement at its next execution
	{
		const text = 'SELECT count(*) AS n, avg(amount) AS a FROM orders WHERE qty = $1';
		const [t] = await truth(text, [2]);
		let r = await bi.query({ name: 'q_policy', text, values: [2] });
		ok(near(r.rows[0].n, t.n, countMargin(EPS)) && near(r.rows[0].a, t.a, avgMargin(0, 100, Number(t.n), EPS)),
		   'q_policy before any change: within margins', { got: r.rows[0], truth: t });
		await charged('q_policy', 2 * EPS);

		await admin.query({ text: "SELECT privstat.set_access($1::regrole, 'none')", values: ['bi_analysts'] });
		let e = await refused(bi, { name: 'q_policy', text, values: [2] });
		ok(e.code === '42501' && /access level none/.test(e.message),
		   "after set_access(group, 'none'): the prepared statement is refused", { code: e.code, message: e.message });
		await notCharged('q_policy refused at level none');

		await admin.query({ text: "SELECT privstat.set_access($1::regrole, 'aggregate')", values: ['bi_analysts'] });
		await admin.query("SELECT privstat.set_bounds('orders', 'amount', 0, 10)");
		const [tc] = await truth('SELECT count(*) AS n, avg(least(amount, 10)) AS a FROM orders WHERE qty = $1', [2]);
		r = await bi.query({ name: 'q_policy', text, values: [2] });
		ok(near(r.rows[0].a, tc.a, avgMargin(0, 10, Number(tc.n), EPS)) && Number(r.rows[0].a) <= 10,
		   'after set_bounds(0, 10): the prepared avg clamps to the new bounds', { got: r.rows[0], truth_clamped: tc });
		await charged('q_policy with new bounds', 2 * EPS);
		await admin.query("SELECT privstat.set_bounds('orders', 'amount', 0, 100)");
	}

	// ---- 11. the analyst's view of its budget agrees with the administrator's
	{
		const s = await adminStatus();
		const own = await ownStatus();
		ok(own.length === 1 && own[0].epsilon_spent === s.epsilon_spent && own[0].charges === s.charges &&
		   own[0].epsilon_remaining === BUDGET - expSpent,
		   `the analyst's budget_status row agrees: spent ${expSpent} of ${BUDGET} in ${expCharges} charges`, { own, admin: s });
	}

	// ---- 12. spend the rest, then every DP query is refused with the
	// overspend error (53000), charging nothing
	{
		const text = 'SELECT count(*) AS n FROM orders WHERE region = $1';
		let remaining = BUDGET - expSpent;
		const runs = Math.floor(remaining / EPS);
		ok(runs >= 1, `the rest of the budget (${remaining}) admits ${runs} more executions of a count`);
		let all = true;
		for (let i = 0; i < runs; i++) {
			const r = await bi.query({ name: 'q_spend', text, values: [i % 2 ? 'EU' : 'US'] });
			expSpent += EPS;
			expCharges++;
			all = all && isBigintText(r.rows[0].n);
		}
		const s = await adminStatus();
		ok(all && s.epsilon_spent === expSpent && Number(s.charges) === expCharges,
		   `${runs} executions of q_spend, each charged ${EPS}`, { expected: [expSpent, expCharges], got: s });
		remaining = BUDGET - expSpent;

		let e = await refused(bi, { name: 'q_spend', text, values: ['EU'] });
		const exhausted = new RegExp(`privacy budget of role "${BI_USER}" is exhausted`);
		ok(e.code === '53000' && exhausted.test(e.message) &&
		   new RegExp(`The query needs epsilon ${EPS} and delta 0; the role has epsilon [0-9.e+-]+ and delta [0-9.e+-]+ left\\.`).test(e.detail || '') &&
		   Number((/the role has epsilon ([0-9.e+-]+)/.exec(e.detail || '') || [])[1]) === remaining && e.hint,
		   `q_spend with epsilon ${remaining} left: refused, 53000, with what it needs and what is left`,
		   { code: e.code, message: e.message, detail: e.detail, hint: e.hint });
		await notCharged('the refused overspend');

		if (remaining > 0) {
			const r = await bi.query({ text: 'SELECT privstat.dp_count(id, $1::float8) AS n FROM orders', values: [remaining] });
			ok(isBigintText(r.rows[0].n), `a dp_count at exactly the epsilon left (${remaining}) is answered`);
			await charged('the last query', remaining);
		}
		e = await refused(bi, { text: 'SELECT privstat.dp_count(id, $1::float8) AS n FROM orders', values: [0.000001] });
		ok(e.code === '53000' && exhausted.test(e.message),
		   'with nothing left even epsilon 0.000001 is refused', { code: e.code, message: e.message });
		for (const [desc, q] of [
			['unnamed', { text, values: ['US'] }],
			['named q_spend again', { name: 'q_spend', text, values: ['US'] }],
			['simple protocol', "SELECT region, count(*) FROM orders GROUP BY region"]]) {
			e = await refused(bi, q);
			ok(e.code === '53000' && exhausted.test(e.message), `exhausted: the ${desc} query is refused`, { code: e.code, message: e.message });
		}
		await notCharged('the refusals after exhaustion');
		const own = await ownStatus();
		ok(own.length === 1 && own[0].epsilon_spent === BUDGET && own[0].epsilon_remaining === 0,
		   'budget_status shows the whole budget spent, nothing left', own);
		const r = await bi.query({ text: 'SELECT count(*) AS n FROM products WHERE category = $1', values: ['a'] });
		ok(r.rows[0].n === '5', 'an ordinary query of an unprotected table still runs (and costs nothing)', r.rows);
		await notCharged('the ordinary query');
	}

	// ---- 13. the server saw the extended protocol (log_statement = 'all')
	if (SERVER_LOG) {
		const log = fs.readFileSync(SERVER_LOG, 'utf8');
		// lines of the analyst's session only (log_line_prefix ends with '%u ')
		const mine = log.split('\n').filter((l) => l.includes(` ${BI_USER} LOG:  `));
		const count = (re) => mine.filter((l) => re.test(l)).length;
		ok(count(/execute q_region: SELECT count\(\*\) AS n, sum\(amount\)/) === 8,
		   'the server log shows 8 Execute messages of the named statement q_region',
		   mine.filter((l) => /q_region/.test(l)));
		ok(count(/execute <unnamed>: SELECT count\(\*\) AS n, sum\(amount\) AS s, avg\(amount\)/) === 2,
		   'the server log shows the 2 unnamed statements executed with parameters');
		ok(count(/execute fetch from <unnamed>\/C_\d+: SELECT date_trunc/) >= 1,
		   'the server log shows the cursor portal fetched again after a suspension');
	} else {
		note('SERVER_LOG not set: the server log is not checked');
	}

	await bi.end();
	await admin.end();
}

main().catch((e) => {
	ok(false, `unexpected error: ${e && e.message}`, e && e.stack);
}).finally(() => {
	console.log(`1..${n}`);
	// exit even if a failure left a connection open (stdout is written
	// synchronously to files and pipes, so nothing printed is lost)
	process.exit(failures > 0 ? 1 : 0);
});

// The soak test's clients and checks (test/soak/run.sh sets up the cluster
// and the database, test/soak/setup.sql, and runs this as the test user).
//
// 16 clients, each on its own connection for the whole run:
//   12 analysts: 3 sessions of each of soak_a1..soak_a4 (level aggregate,
//      finite budgets) loop over DP queries (plain aggregates over the
//      protected table, over both the simple and the extended protocol) and,
//      one time in 50, a query the policy refuses (42501) on purpose;
//    2 writers insert 5 rows per statement, dated up to 20 s in the past;
//    1 purger calls privstat.purge_expired('orders') (retention: 30 s);
//    1 budget changer moves a random analyst's limit to what it has spent
//      plus 0.5 to 2.5: up or down, never below the spent it reads.
// The background retention workers purge too (privstat.purge_interval = 10).
// A 17th connection, the superuser's, samples budget_status every 50 ms.
//
// Checks (TAP): no error but 53000 (budget exhausted) for DP queries and
// 42501 for the refused ones, in the clients and in the server log; no
// sample with epsilon_spent > epsilon_limit; a replay of the audit trail
// (budget_set, budget_reset, charge, in seq order) never charges past the
// limit in force; per role, answered queries = charges + answers returned
// again from the release cache (cached_release) in the trail, charges =
// budget_status.charges, and refusals = the trail's refusals; rows inserted
// = rows purged (the trail's purge records) + rows left; verify_audit_log()
// is ok; each backend's memory grows between the warm-up sample and the end
// by less than MEM_CONTEXT_BOUND (PostgreSQL's memory contexts, from
// pg_backend_memory_contexts) and MEM_ANON_BOUND (anonymous memory of the
// process, /proc/PID/smaps_rollup: shared buffers are not in it).
'use strict';
const fs = require('fs');
const { Client } = require('pg');

const SECONDS = Number(process.env.SOAK_SECONDS || 120);
const ADMIN = process.env.ADMIN_USER || 'postgres';
const SERVER_LOG = process.env.SERVER_LOG;
const WARM_AT = Math.min(20, SECONDS / 4);	// s: warm-up ends, first memory sample
const MEM_CONTEXT_BOUND = 1 << 20;		// bytes of growth per backend, warm-up to end
const MEM_ANON_BOUND = 10 << 20;		// bytes of growth per backend, warm-up to end
const ROLES = ['soak_a1', 'soak_a2', 'soak_a3', 'soak_a4'];
const SESSIONS_PER_ROLE = 3;
const TOLERANCE = 1e-6;				// epsilon: amounts are kept in units of 1e-9

const t0 = Date.now();
const deadline = t0 + SECONDS * 1000;
const elapsed = () => (Date.now() - t0) / 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The DP queries: [name, text, params].  Each costs 0.05 per aggregate
// (ALTER ROLE ... SET privstat.epsilon = 0.05).
const DP_QUERIES = [
	['dp_count', "SELECT count(*) FROM orders WHERE region = 'EU'"],
	['dp_group', 'SELECT region, count(*), avg(amount) FROM orders GROUP BY region ORDER BY region'],
	['dp_sum_param', 'SELECT sum(qty), avg(amount) FROM orders WHERE region = $1', ['US']],
	['dp_count_param', 'SELECT count(*) FROM orders WHERE qty >= $1', [2]],
];
const REFUSED_QUERY = ['refused_on_purpose', 'SELECT * FROM orders LIMIT 1'];

const stats = {};			// kind -> {ok, errors: {sqlstate: n}}
const unexpected = [];			// [who, kind, sqlstate, message]
const answered = {}, refused = {};	// per analyst role
for (const r of ROLES) { answered[r] = 0; refused[r] = 0; }
let inserted = 0;
function count(kind, code) {
	const s = stats[kind] || (stats[kind] = { ok: 0, errors: {} });
	if (code === undefined) s.ok++;
	else s.errors[code] = (s.errors[code] || 0) + 1;
}

async function connect(user) {
	const c = new Client({ user });
	await c.connect();
	c.user = user;
	c.pid = (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p;
	return c;
}

// memory of one backend: its contexts' total (asked on its own connection)
// and its anonymous memory and private dirty pages (from /proc)
async function memory(c) {
	const ctx = Number((await c.query(
		'SELECT sum(total_bytes)::bigint AS b FROM pg_backend_memory_contexts')).rows[0].b);
	const m = { ctx, anon: NaN, dirty: NaN, rss: NaN };
	try {
		const txt = fs.readFileSync(`/proc/${c.pid}/smaps_rollup`, 'utf8');
		const kb = (k) => Number((txt.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm')) || [])[1]) * 1024;
		m.anon = kb('Anonymous'); m.dirty = kb('Private_Dirty'); m.rss = kb('Rss');
	} catch (e) { /* not on this machine: left NaN, reported */ }
	return m;
}

const backends = [];			// {who, pid, warm, end}
async function client(who, c, step) {
	const b = { who, pid: c.pid, warm: null, end: null };
	backends.push(b);
	while (Date.now() < deadline) {
		if (!b.warm && elapsed() >= WARM_AT) b.warm = await memory(c);
		await step(c);
	}
	if (!b.warm) b.warm = await memory(c);
	b.end = await memory(c);
}

async function analystStep(c) {
	if (Math.random() < 0.02) {
		const [kind, text] = REFUSED_QUERY;
		try {
			await c.query(text);
			count(kind);
			unexpected.push([c.user, kind, 'answered', 'a query the policy refuses was answered']);
		} catch (e) {
			count(kind, e.code);
			if (e.code !== '42501') unexpected.push([c.user, kind, e.code, e.message]);
		}
		return;
	}
	const [kind, text, params] = DP_QUERIES[Math.floor(Math.random() * DP_QUERIES.length)];
	try {
		await c.query(text, params);
		count(kind);
		answered[c.user]++;
	} catch (e) {
		count(kind, e.code);
		if (e.code === '53000') refused[c.user]++;
		else unexpected.push([c.user, kind, e.code, e.message]);
	}
}

async function plainStep(c, kind, text, params, after) {
	try {
		const r = await c.query(text, params);
		count(kind);
		if (after) after(r);
	} catch (e) {
		count(kind, e.code);
		unexpected.push([c.user, kind, e.code, e.message]);
		await sleep(100);
	}
}

const writerStep = (c) => plainStep(c, 'insert',
	`INSERT INTO orders (user_id, amount, qty, region, created)
	 SELECT (random() * 999)::int, (random() * 50)::int, (random() * 4)::int,
	        CASE WHEN random() < 0.5 THEN 'EU' ELSE 'US' END, now() - random() * interval '20 seconds'
	 FROM generate_series(1, 5)`, undefined, (r) => { inserted += r.rowCount; });

async function purgerStep(c) {
	await plainStep(c, 'purge', "CALL privstat.purge_expired('orders')");
	await sleep(200);
}

async function budgetStep(c) {
	const role = ROLES[Math.floor(Math.random() * ROLES.length)];
	await plainStep(c, 'set_budget',
		`SELECT privstat.set_budget($1::regrole, epsilon_spent + $2, 1)
		 FROM privstat.budget_status WHERE role = $1::regrole`, [role, 0.5 + 2 * Math.random()]);
	await sleep(5);
}

// the superuser's sampler: spent never above the limit
let samples = 0;
const overspent = [];
async function sampler(c) {
	while (Date.now() < deadline) {
		const r = await c.query(`SELECT role::text AS role, epsilon_limit, epsilon_spent
			FROM privstat.budget_status WHERE role::text LIKE 'soak_a%'`);
		for (const x of r.rows) {
			samples++;
			if (x.epsilon_spent > x.epsilon_limit + TOLERANCE)
				overspent.push(`${x.role}: spent ${x.epsilon_spent} > limit ${x.epsilon_limit} at ${elapsed()} s`);
		}
		await sleep(50);
	}
}

let tapN = 0, failed = 0;
function tap(ok, name, detail) {
	tapN++;
	if (!ok) failed++;
	console.log(`${ok ? 'ok' : 'not ok'} ${tapN} - ${name}`);
	if (!ok && detail) for (const l of [].concat(detail).slice(0, 20)) console.log(`#   ${l}`);
}
const mb = (x) => (x / 1048576).toFixed(2);

async function main() {
	const admin = await connect(ADMIN);
	const clients = [];
	for (const r of ROLES)
		for (let i = 0; i < SESSIONS_PER_ROLE; i++) clients.push([`${r}#${i + 1}`, await connect(r), analystStep]);
	for (let i = 0; i < 2; i++) clients.push([`soak_writer#${i + 1}`, await connect('soak_writer'), writerStep]);
	clients.push(['soak_admin (purge)', await connect('soak_admin'), purgerStep]);
	clients.push(['soak_admin (budgets)', await connect('soak_admin'), budgetStep]);
	console.log(`# ${clients.length} clients for ${SECONDS} s; memory samples at ${WARM_AT} s and at the end`);

	const started = Date.now();
	await Promise.all([sampler(admin), ...clients.map(([who, c, step]) => client(who, c, step))]);
	const secs = (Date.now() - started) / 1000;

	// figures
	console.log(`# ran ${secs.toFixed(1)} s`);
	for (const [kind, s] of Object.entries(stats)) {
		const errs = Object.entries(s.errors).map(([k, n]) => `${n} x ${k}`).join(', ');
		console.log(`# ${kind.padEnd(18)} ${String(s.ok).padStart(7)} ok (${(s.ok / secs).toFixed(1)}/s)` +
			(errs ? `, errors: ${errs}` : ''));
	}
	const status = {};
	for (const x of (await admin.query(`SELECT role::text AS role, epsilon_limit, epsilon_spent, charges
		FROM privstat.budget_status WHERE role::text LIKE 'soak_a%' ORDER BY 1`)).rows) status[x.role] = x;

	// the audit trail: replay the soak roles' budget events in order
	const trail = (await admin.query(`SELECT seq, event, role::text AS role, epsilon, operation
		FROM privstat.audit_log WHERE role::text LIKE 'soak_a%'
		  AND event IN ('budget_set', 'budget_reset', 'charge', 'refusal', 'cached_release') ORDER BY seq`)).rows;
	const replay = {};
	const overcharged = [];
	for (const r of ROLES) replay[r] = { limit: 0, spent: 0, charges: 0, cached: 0, refusals: 0, sets: 0, lowered: 0 };
	for (const e of trail) {
		const s = replay[e.role];
		if (e.event === 'budget_set') {
			if (e.epsilon < s.limit) s.lowered++;
			s.limit = e.epsilon; s.sets++;
		} else if (e.event === 'budget_reset') s.spent = 0;
		else if (e.event === 'refusal') s.refusals++;
		else if (e.event === 'cached_release') s.cached++;	// answered again from the release cache: free
		else {
			s.spent += e.epsilon; s.charges++;
			if (s.spent > s.limit + TOLERANCE)
				overcharged.push(`seq ${e.seq}: ${e.role} charged ${e.epsilon}, spent ${s.spent} > limit ${s.limit}`);
		}
	}
	// a background worker's purge is in the trail just before it commits:
	// read the trail on both sides of the count until they agree
	let purged, left;
	const purgedNow = async () => Number((await admin.query(`SELECT coalesce(sum(count), 0) AS n
		FROM privstat.audit_log WHERE event = 'purge' AND relation LIKE '%orders'`)).rows[0].n);
	for (let i = 0; i < 20; i++) {
		purged = await purgedNow();
		left = Number((await admin.query("SELECT count(*) AS n FROM orders WHERE created < '2100-01-01'")).rows[0].n);
		if (purged === await purgedNow() && inserted === purged + left) break;
		await sleep(250);
	}
	const verify = (await admin.query('SELECT * FROM privstat.verify_audit_log()')).rows[0];

	let totalAnswered = 0, totalRefused = 0;
	for (const r of ROLES) {
		const s = replay[r], st = status[r];
		totalAnswered += answered[r]; totalRefused += refused[r];
		console.log(`# ${r}: answered ${answered[r]}, refused ${refused[r]} (53000); trail: ${s.charges} charges, ` +
			`${s.refusals} refusals, ${s.sets} budget_set (${s.lowered} lowering); budget_status: ` +
			`${st.charges} charges, spent ${st.epsilon_spent.toFixed(3)} of ${st.epsilon_limit.toFixed(3)}`);
	}
	console.log(`# DP queries answered ${totalAnswered} (${(totalAnswered / secs).toFixed(1)}/s), ` +
		`refused by budget ${totalRefused}; ${samples} budget_status samples`);
	console.log(`# rows inserted ${inserted}, purged (trail) ${purged}, left ${left}; ` +
		`trail: ${verify.records} records from seq ${verify.first_seq}, ok = ${verify.ok}`);
	console.log('# memory per backend, warm-up -> end (MB): contexts | anonymous | private dirty | rss');
	for (const b of backends)
		console.log(`#   ${b.who.padEnd(22)} pid ${b.pid}: ${mb(b.warm.ctx)} -> ${mb(b.end.ctx)} | ` +
			`${mb(b.warm.anon)} -> ${mb(b.end.anon)} | ${mb(b.warm.dirty)} -> ${mb(b.end.dirty)} | ` +
			`${mb(b.warm.rss)} -> ${mb(b.end.rss)}`);

	// server log: every ERROR, FATAL or PANIC by SQLSTATE (log_line_prefix ends in %e)
	const logCodes = {};
	const badLog = [];
	if (SERVER_LOG) {
		for (const line of fs.readFileSync(SERVER_LOG, 'utf8').split('\n')) {
			const m = line.match(/^\S+ \S+ \S+ \[\d+\] (\S*) ([0-9A-Z]{5}) (ERROR|FATAL|PANIC):\s+(.*)/);
			if (!m) { if (/PANIC|TRAP:|terminated by signal/.test(line)) badLog.push(line); continue; }
			const key = `${m[3]} ${m[2]}`;
			logCodes[key] = (logCodes[key] || 0) + 1;
			if (m[3] !== 'ERROR' || !['53000', '42501'].includes(m[2])) badLog.push(line);
		}
		console.log(`# server log: ${Object.entries(logCodes).map(([k, n]) => `${n} x ${k}`).join(', ') || 'no errors'}`);
	}

	// checks
	tap(unexpected.length === 0, 'no client error but 53000 for DP queries and 42501 for the refused ones',
		unexpected.map((u) => u.join(': ')));
	tap(totalAnswered > 0 && totalRefused > 0 && (stats.refused_on_purpose || { errors: {} }).errors['42501'] > 0,
		'DP queries were answered, refused for budget, and refused by policy');
	tap((stats.insert || {}).ok > 0 && (stats.purge || {}).ok > 0 && (stats.set_budget || {}).ok > 0 && purged > 0,
		'inserts, purges and budget changes ran, and purges deleted rows');
	tap(!SERVER_LOG || badLog.length === 0, 'server log: no error but 53000 and 42501, no crash', badLog);
	tap(overspent.length === 0, `no budget_status sample with epsilon_spent > epsilon_limit (${samples} samples)`, overspent);
	tap(overcharged.length === 0, `replay of the audit trail (${trail.length} budget events): no charge past the limit in force`,
		overcharged);
	tap(ROLES.every((r) => answered[r] === replay[r].charges + replay[r].cached &&
						  replay[r].charges === Number(status[r].charges)),
		'per role, answered DP queries = charges + releases from the cache in the audit trail, charges = budget_status.charges',
		ROLES.map((r) => `${r}: ${answered[r]} answered, ${replay[r].charges} charges + ${replay[r].cached} cached in trail, ` +
			`${status[r].charges} in budget_status`));
	tap(ROLES.every((r) => Math.abs(replay[r].spent - status[r].epsilon_spent) < 1e-4 &&
		Math.abs(replay[r].limit - status[r].epsilon_limit) < 1e-4),
		"per role, the trail's replay ends at budget_status's spent and limit",
		ROLES.map((r) => `${r}: replay ${replay[r].spent}/${replay[r].limit}, status ${status[r].epsilon_spent}/${status[r].epsilon_limit}`));
	tap(ROLES.every((r) => refused[r] === replay[r].refusals),
		'per role, refusals for budget = refusals in the audit trail',
		ROLES.map((r) => `${r}: ${refused[r]} refused, ${replay[r].refusals} in trail`));
	tap(inserted === purged + left, 'rows inserted = rows purged (audit trail) + rows left',
		`${inserted} inserted, ${purged} purged, ${left} left`);
	tap(verify.ok === true, 'verify_audit_log() is ok', JSON.stringify(verify));
	const growth = backends.map((b) => [b, b.end.ctx - b.warm.ctx, b.end.anon - b.warm.anon]);
	tap(growth.every(([, g]) => g < MEM_CONTEXT_BOUND),
		`no backend's memory contexts grow by ${mb(MEM_CONTEXT_BOUND)} MB or more after warm-up`,
		growth.map(([b, g]) => `${b.who}: ${mb(g)} MB`));
	tap(growth.every(([, , a]) => a < MEM_ANON_BOUND),
		`no backend's anonymous memory grows by ${mb(MEM_ANON_BOUND)} MB or more after warm-up`,
		growth.map(([b, , a]) => `${b.who}: ${mb(a)} MB`));
	const maxCtx = Math.max(...growth.map(([, g]) => g)), maxAnon = Math.max(...growth.map(([, , a]) => a));
	console.log(`# largest growth after warm-up: contexts ${mb(maxCtx)} MB, anonymous ${mb(maxAnon)} MB`);
	console.log(`1..${tapN}`);

	for (const [, c] of clients) await c.end();
	await admin.end();
	process.exit(failed ? 1 : 0);
}

main().catch((e) => {
	console.log(`not ok 1 - the driver failed: ${e.stack}`);
	console.log('1..1');
	process.exit(1);
});

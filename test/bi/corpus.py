#!/usr/bin/python3
"""The BI corpus test: SQL as BI tools generate it (test/bi/corpus.json), run
through real drivers as a role at access level 'aggregate', each answer
compared with the owner's exact answer to the same SQL, each execution's
charge read from privstat.budget_status.

Drivers and modes (one TAP line per mode and shape):
  psycopg2            client-side binding, simple protocol
  psycopg-simple      psycopg 3 ClientCursor: client-side binding, simple protocol
  psycopg-extended    psycopg 3 server-side binding, prepare=False, binary results:
                      an unnamed Parse/Bind/Execute every time
  psycopg-prepared    psycopg 3 prepare=True: a named statement, executed REPEAT times
  pyodbc              psqlODBC ("PostgreSQL Unicode"), UseServerSidePrepare=1
  jdbc                pgjdbc PreparedStatement (test/bi/BiCorpus.java), default prepareThreshold
  jdbc-prepared       pgjdbc with prepareThreshold=1: named statements from the first
                      execution, executed REPEAT times (past the five custom plans)

Every mode runs every shape (a shape may name the driver families that can run
it, such as ODBC/JDBC escapes; the others print '# skip').  The execution
protocol is the same everywhere: the owner runs the SQL through the same
driver, then the analyst's connection runs EXPLAIN (for the cost privstat
announces), then the SQL, with the analyst's budget read before and after
each execution.  The Java runner writes the same records as JSON lines;
check() below is the one place where records are judged.

Margins (doc/user-level.md): a role's query is rewritten so that each customer
contributes to at most k groups (k = 1 without GROUP BY) with at most m rows
each; with epsilon e per aggregate, a count has discrete Laplace noise of
scale k*m/e, a distinct count of units k/e, a sum over bounds [L, U]
k*m*max(|L|, |U|)/e; an average is a noisy centred sum (scale k*m*(U-L)/e)
over a noisy count (scale 2*k*m/e), so for a group of n rows
|avg' - avg| <= 2*K*k*m*(U-L)/e / (n - 2*K*k*m/e); a percentile runs
permute-and-flip over 257 bin boundaries at e/(k*m) per value, which lands
more than t = 2*(ln 257 + K)*k*m/e ranks from the target with probability
below exp(-K), so over data spread evenly on [L, U] (amount is, by
construction) |p' - p| <= (U-L)*(t/n + 2/256) plus 1% of the range for the
unevenness of a subset.  Every margin is K = 30 noise scales:
P(|Z| > 30 scales) < 2*exp(-30) < 2e-13 per value.  A GROUP BY releases a
group when its noisy count of units (scale k/e_sel) passes the threshold tau
of doc/user-level.md; a group of at least tau + K*k/e_sel units is missing
with probability below exp(-30) < 1e-13, and only such groups must appear.
The run counts the values and groups it checks and prints the bound on the
probability that a correct build fails by chance: it must stay below 1e-6.

Environment (set by test/bi/run.sh): PGHOST (socket directory), PGPORT,
PGDATABASE, BI_USER, ADMIN_USER, JDBC_URL, JAVA_CP, ODBCSYSINI, SERVER_LOG,
BI_REPEAT, BI_TIMEOUT_MS, BI_MODES (optional: a comma-separated subset).
"""

import datetime
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

K = 30					# margins, in noise scales
P_TAIL = 2 * math.exp(-K)		# chance of one value outside its margin
HERE = os.path.dirname(os.path.abspath(__file__))


def env(name, default=None):
    v = os.environ.get(name, default)
    if v is None:
        print(f"Bail out! environment variable {name} is not set")
        sys.exit(2)
    return v


HOST = env('PGHOST')
PORT = int(env('PGPORT'))
DB = env('PGDATABASE')
BI_USER = env('BI_USER')
ADMIN_USER = env('ADMIN_USER', 'postgres')
REPEAT = int(env('BI_REPEAT', '6'))
TIMEOUT_MS = int(env('BI_TIMEOUT_MS', '30000'))
# The owner computes the truth with privstat on its search_path (the analyst's
# connections leave it off: doc/install.md); the SQL is the same.
OWNER_PATH = 'public,privstat'


def options(user):
    opts = f"-c statement_timeout={TIMEOUT_MS}"
    return opts + (f" -c search_path={OWNER_PATH}" if user == ADMIN_USER else '')
SERVER_LOG = os.environ.get('SERVER_LOG', '')
CORPUS = os.environ.get('BI_CORPUS', os.path.join(HERE, 'corpus.json'))


# ------------------------------------------------------------------ TAP

class Tap:
    def __init__(self):
        self.n = 0
        self.failures = 0

    def ok(self, cond, desc, diag=None, skip=None):
        self.n += 1
        if skip is not None:
            print(f"ok {self.n} - {desc} # skip {skip}", flush=True)
            return True
        if not cond:
            self.failures += 1
        print(f"{'ok' if cond else 'not ok'} {self.n} - {desc}", flush=True)
        if not cond and diag:
            for line in (diag if isinstance(diag, list) else [diag]):
                for part in str(line).split('\n'):
                    print(f"#   {part}")
        return cond

    @staticmethod
    def note(msg):
        print(f"# {msg}", flush=True)


tap = Tap()


# ------------------------------------------------------------------ corpus

def load_corpus(path=CORPUS):
    with open(path) as f:
        return json.load(f)['shapes']


def py_param(v):
    """A corpus parameter as the Python value a BI tool would pass."""
    if isinstance(v, dict):
        if 'date' in v:
            return datetime.date.fromisoformat(v['date'])
        if 'timestamp' in v:
            return datetime.datetime.fromisoformat(v['timestamp'])	# naive
        raise ValueError(f"unknown parameter {v!r}")
    return v


def with_placeholders(sql, mark, escape_percent):
    """Replace the corpus's '?' markers (outside quotes) by the driver's."""
    out = []
    quote = None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == '?':
            out.append(mark)
            continue
        if ch == '%' and escape_percent:
            out.append('%%')
            continue
        out.append(ch)
    return ''.join(out)


# ------------------------------------------------------------------ drivers

class QueryError(Exception):
    def __init__(self, sqlstate, message):
        super().__init__(f"{sqlstate}: {message}")
        self.sqlstate = sqlstate
        self.message = message


class Psycopg2Driver:
    family, mode, protocol, repeat = 'psycopg2', 'psycopg2', 'simple', 1

    def __init__(self):
        import psycopg2
        self.lib = psycopg2
        self.version = f"psycopg2 {psycopg2.__version__.split()[0]}"

    def connect(self, user):
        c = self.lib.connect(host=HOST, port=PORT, dbname=DB, user=user,
                             application_name=f"bi-{self.mode}", options=options(user))
        c.autocommit = True
        return c

    def prepare(self, conn, sql, nparams):
        return with_placeholders(sql, '%s', nparams > 0)

    def execute(self, conn, stmt, params):
        try:
            with conn.cursor() as cur:
                cur.execute(stmt, [py_param(p) for p in params] if params else None)
                rows = cur.fetchall() if cur.description else []
                return [d[0] for d in cur.description or []], [list(r) for r in rows]
        except self.lib.Error as e:
            diag = getattr(e, 'diag', None)
            raise QueryError(e.pgcode, (diag.message_primary if diag and diag.message_primary else str(e)).strip())


class PsycopgDriver:
    family = 'psycopg'

    def __init__(self, mode):
        import psycopg
        self.lib = psycopg
        self.mode = mode
        self.protocol = {'psycopg-simple': 'simple', 'psycopg-extended': 'unnamed',
                         'psycopg-prepared': 'named'}[mode]
        self.repeat = REPEAT if mode == 'psycopg-prepared' else 1
        self.version = f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__} implementation, libpq {psycopg.pq.version()})"

    def connect(self, user):
        return self.lib.connect(host=HOST, port=PORT, dbname=DB, user=user, autocommit=True,
                                application_name=f"bi-{self.mode}", options=options(user))

    def prepare(self, conn, sql, nparams):
        return with_placeholders(sql, '%s', nparams > 0)

    def execute(self, conn, stmt, params):
        args = [py_param(p) for p in params] if params else None
        try:
            if self.mode == 'psycopg-simple':
                cur = self.lib.ClientCursor(conn)
                cur.execute(stmt, args)
            elif self.mode == 'psycopg-extended':
                # binary results make psycopg use PQsendQueryParams even
                # without parameters: always the extended protocol, unnamed
                cur = conn.cursor(binary=True)
                cur.execute(stmt, args, prepare=False)
            else:
                cur = conn.cursor()
                cur.execute(stmt, args, prepare=True)
            with cur:
                rows = cur.fetchall() if cur.description else []
                return [d.name for d in cur.description or []], [list(r) for r in rows]
        except self.lib.Error as e:
            diag = getattr(e, 'diag', None)
            raise QueryError(getattr(e, 'sqlstate', None),
                             (diag.message_primary if diag and diag.message_primary else str(e)).strip())


class PyodbcDriver:
    family, mode, protocol, repeat = 'pyodbc', 'pyodbc', 'odbc', 1

    def __init__(self):
        import pyodbc
        self.lib = pyodbc
        self.version = f"pyodbc {pyodbc.version}, psqlODBC {self._psqlodbc_version()}"

    @staticmethod
    def _psqlodbc_version():
        try:
            return subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'odbc-postgresql'],
                                  capture_output=True, text=True).stdout.strip()
        except OSError:
            return '?'

    def connect(self, user):
        cs = ("Driver={PostgreSQL Unicode};"
              f"Servername={HOST};Port={PORT};Database={DB};Username={user};"
              "UseServerSidePrepare=1;"
              f"pqopt={{application_name=bi-{self.mode} options='{options(user)}'}}")
        return self.lib.connect(cs, autocommit=True)

    def prepare(self, conn, sql, nparams):
        return sql

    def execute(self, conn, stmt, params):
        cur = conn.cursor()
        try:
            if params:
                cur.execute(stmt, *[py_param(p) for p in params])
            else:
                cur.execute(stmt)
            rows = cur.fetchall() if cur.description else []
            return [d[0] for d in cur.description or []], [list(r) for r in rows]
        except self.lib.Error as e:
            state = e.args[0] if e.args else None
            msg = e.args[1] if len(e.args) > 1 else str(e)
            # "[42501] ERROR: <message>;\nError while executing the query (1) (SQLExecDirectW)"
            msg = re.sub(r'^\[[0-9A-Z]{5}\]\s*(ERROR:\s*)?', '', msg)
            msg = re.sub(r';?\s*\nError while executing.*$', '', msg, flags=re.S)
            raise QueryError(state, msg.split('\n')[0].strip())
        finally:
            cur.close()


# ------------------------------------------------------------------ the execution protocol

class Admin:
    """A superuser connection (psycopg2) that reads the analyst's budget."""

    def __init__(self):
        import psycopg2
        self.conn = psycopg2.connect(host=HOST, port=PORT, dbname=DB, user=ADMIN_USER,
                                     application_name='bi-admin',
                                     options=f"-c statement_timeout={TIMEOUT_MS}")
        self.conn.autocommit = True

    def query(self, sql, args=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def budget(self):
        (eps, delta, charges), = self.query(
            "SELECT epsilon_spent, delta_spent, charges FROM privstat.budget_status WHERE role = %s::regrole",
            [BI_USER])
        return eps, delta, int(charges)


EXPLAIN_EPS = re.compile(r'Privacy Cost Epsilon: ([0-9.eE+-]+)')
EXPLAIN_DELTA = re.compile(r'Privacy Cost Delta: ([0-9.eE+-]+)')


def parse_explain(rows):
    text = '\n'.join(str(r[0]) for r in rows)
    e, d = EXPLAIN_EPS.search(text), EXPLAIN_DELTA.search(text)
    return {'epsilon': float(e.group(1)) if e else None, 'delta': float(d.group(1)) if d else None}


def timed(fn, *args):
    t0 = time.perf_counter()
    try:
        cols, rows = fn(*args)
        return {'cols': cols, 'rows': rows, 'ms': (time.perf_counter() - t0) * 1000}
    except QueryError as e:
        return {'error': {'sqlstate': e.sqlstate, 'message': e.message}, 'ms': (time.perf_counter() - t0) * 1000}
    except Exception as e:		# the driver itself failed: a finding too
        return {'error': {'sqlstate': None, 'message': f"client {type(e).__name__}: {e}"},
                'ms': (time.perf_counter() - t0) * 1000}


def run_python_mode(drv, shapes, admin):
    """Run every shape through one Python driver mode; returns the records."""
    records = []
    owner = drv.connect(ADMIN_USER)
    bi = drv.connect(BI_USER)
    for s in shapes:
        rec = {'mode': drv.mode, 'shape': s['name']}
        records.append(rec)
        if 'only' in s and drv.family not in s['only']:
            rec['skip'] = s.get('why', 'not for this driver')
            continue
        params = s.get('params', [])
        stmt = drv.prepare(bi, s['sql'], len(params))
        rec['owner'] = timed(drv.execute, owner, stmt, params)
        if 'answer' in s['expect']:
            ex = timed(drv.execute, bi, drv.prepare(bi, 'EXPLAIN ' + s['sql'], len(params)), params)
            rec['explain'] = ex if 'error' in ex else parse_explain(ex['rows'])
        rec['runs'] = []
        for _ in range(drv.repeat):
            before = admin.budget()
            run = timed(drv.execute, bi, stmt, params)
            after = admin.budget()
            run['eps'] = after[0] - before[0]
            run['delta'] = after[1] - before[1]
            run['charges'] = after[2] - before[2]
            rec['runs'].append(run)
    if drv.mode == 'psycopg-prepared':
        (g, c), = drv.execute(bi, 'SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) FROM pg_prepared_statements', None)[1]
        records.append({'mode': drv.mode, 'note': f"psycopg-prepared: the analyst's named statements ran {g} generic and {c} custom plans"})
    owner.close()
    bi.close()
    return records


def run_java_mode(mode, threshold, repeat):
    """Run every shape through pgjdbc (BiCorpus.java); returns its records."""
    cmd = ['java', '-Duser.timezone=UTC', '-cp', env('JAVA_CP'), 'BiCorpus',
           CORPUS, mode, env('JDBC_URL'), BI_USER, ADMIN_USER, str(threshold), str(repeat),
           options(BI_USER), options(ADMIN_USER)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    records = []
    for line in p.stdout.splitlines():
        if line.startswith('{'):
            records.append(json.loads(line))
    if p.returncode != 0:
        records.append({'mode': mode, 'crash': f"java exited {p.returncode}: {p.stderr.strip()[-2000:]}"})
    return records


# ------------------------------------------------------------------ checking (all drivers)

class Context:
    """The privacy parameters the margins and costs follow, read from the server."""

    def __init__(self, admin, bi_settings):
        self.eps = float(bi_settings['privstat.epsilon'])
        self.sel_eps = float(bi_settings['privstat.selection_epsilon'])
        self.sel_delta = float(bi_settings['privstat.selection_delta'])
        (self.k, self.m), = admin.query(
            "SELECT max_groups_contributed, max_rows_contributed FROM privstat.protected_table WHERE tbl = 'orders'::regclass")
        # group selection (doc/user-level.md): threshold tau, and the units a
        # group needs to be released but for a chance below exp(-K)
        a = math.exp(-self.sel_eps / self.k)
        self.tau = max(2, 1 + math.ceil((self.k / self.sel_eps) * math.log(self.k / (self.sel_delta * (1 + a)))))
        self.present_units = self.tau + K * self.k / self.sel_eps
        self.draws = 0			# values and groups compared: the false-failure bound

    def cost(self, spec, grouped):
        return (spec['aggs'] * self.eps + (self.sel_eps if grouped else 0),
                self.sel_delta if grouped else 0.0)

    def margin(self, kind, spec, grouped):
        k = self.k if grouped else 1
        m, e = self.m, self.eps
        parts = kind.split(':')
        if parts[0] == 'count':
            return K * k * m / e
        if parts[0] == 'units':
            return K * k / e
        lo, hi = float(parts[-2]), float(parts[-1])
        if parts[0] == 'sum':
            return K * k * m * max(abs(lo), abs(hi)) / e
        n = spec['n']
        if parts[0] == 'avg':
            d = 2 * K * k * m / e
            return hi - lo if n <= d else min(hi - lo, 2 * K * k * m * (hi - lo) / e / (n - d))
        if parts[0] == 'pct':
            t = 2 * (math.log(257) + K) * k * m / e
            return (hi - lo) * (t / n + 2 / 256 + 0.01)
        raise ValueError(f"unknown column kind {kind}")


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt_err(err):
    return f"SQLSTATE {err.get('sqlstate')}: {err.get('message')}"


def close(a, b, tol=1e-6):
    return abs(a - b) <= tol * max(1.0, abs(b))


def compare_rows(spec, owner, run, ctx):
    """Problems of one answer against the owner's; [] when it is within margins."""
    kinds = spec['cols']
    keys = [i for i, c in enumerate(kinds) if c == 'key']
    grouped = bool(keys)
    problems = []
    if len(run['cols']) != len(kinds) or len(owner['cols']) != len(kinds):
        return [f"{len(run['cols'])} columns (owner {len(owner['cols'])}), the corpus describes {len(kinds)}"]
    truth = {}
    for r in owner['rows']:
        truth[tuple(r[i] for i in keys)] = r
    if len(truth) != len(owner['rows']):
        return ["the owner's answer repeats a group: the corpus entry is wrong"]
    seen = []
    for r in run['rows']:
        key = tuple(r[i] for i in keys)
        if key in seen:
            problems.append(f"group {key} released twice")
            continue
        seen.append(key)
        if key not in truth:
            problems.append(f"group {key} is not in the owner's answer")
            continue
        t = truth[key]
        for i, kind in enumerate(kinds):
            if kind == 'key':
                continue
            ctx.draws += 2 if kind.startswith('avg') else 1	# an average draws two noises
            got, want = num(r[i]), num(t[i])
            margin = ctx.margin(kind, spec, grouped)
            if got is None or want is None or abs(got - want) > margin * (1 + 1e-6) + 1e-9 * abs(want):
                problems.append(f"group {key}, column {run['cols'][i]} ({kind}): {r[i]} vs the owner's {t[i]}, margin {margin:.6g}")
    if grouped:
        if spec.get('units', 0) >= ctx.present_units:
            ctx.draws += len(truth)
            missing = [k for k in truth if k not in seen]
            if missing:
                problems.append(f"{len(missing)} of the owner's {len(truth)} groups are missing, each with at least "
                                f"{spec['units']} units (>= {ctx.present_units:g}): {missing[:5]}")
        if spec.get('ordered'):
            order = [k for k in (tuple(r[i] for i in keys) for r in owner['rows']) if k in seen]
            if order != seen:
                problems.append(f"groups out of the owner's order: {seen[:8]} vs {order[:8]}")
    elif len(run['rows']) != 1:
        problems.append(f"{len(run['rows'])} rows, expected 1")
    return problems


def charged_nothing(run):
    return run['charges'] == 0 and close(run['eps'], 0)


def check(shape, rec, ctx):
    """Judge one record: (ok, code, why, problems).  code, for the summary:
    ok; R refused; W answered or charged wrongly; A answered where a refusal
    is expected; C a probe that returned rows or charged; E another error;
    O the owner's query failed (the corpus is wrong)."""
    exp = shape['expect']
    runs = rec['runs']
    if 'error' in rec['owner'] and 'refused' not in exp:
        why = f"the owner's query failed: {fmt_err(rec['owner']['error'])}"
        return False, 'O', why, [why]
    if 'refused' in exp:
        problems = []
        for i, run in enumerate(runs, 1):
            if 'error' not in run:
                problems.append(f"execution {i}: answered ({len(run['rows'])} rows), expected a refusal "
                                f"'{exp['refused']}' ({exp['sqlstate']})")
            elif run['error']['sqlstate'] != exp['sqlstate'] or exp['refused'] not in (run['error']['message'] or ''):
                problems.append(f"execution {i}: {fmt_err(run['error'])}; expected {exp['sqlstate']} '{exp['refused']}'")
            if not charged_nothing(run):
                problems.append(f"execution {i}: charged epsilon {run['eps']:g} in {run['charges']} charges, expected nothing")
        if not problems:
            return True, 'ok', '', []
        answered = [r for r in runs if 'error' not in r]
        if answered:
            r = answered[0]
            return False, 'A', f"answered ({len(r['rows'])} rows), charged epsilon {r['eps']:g}", problems
        wrong = [r for r in runs if r['error']['sqlstate'] != exp['sqlstate'] or exp['refused'] not in (r['error']['message'] or '')]
        if wrong:
            return False, 'E', fmt_err(wrong[0]['error']), problems
        return False, 'W', f"refused but charged epsilon {runs[0]['eps']:g}", problems
    if 'probe' in exp:
        problems = []
        for i, run in enumerate(runs, 1):
            if 'error' in run:
                problems.append(f"execution {i}: refused: {fmt_err(run['error'])}")
            elif run['rows']:
                problems.append(f"execution {i}: {len(run['rows'])} rows from a LIMIT 0 probe")
            if not charged_nothing(run):
                problems.append(f"execution {i}: charged epsilon {run['eps']:g} in {run['charges']} charges, expected nothing")
        if not problems:
            return True, 'ok', '', []
        if 'error' in runs[0]:
            return False, 'R', fmt_err(runs[0]['error']), problems
        return False, 'C', problems[0].split(': ', 1)[1], problems
    spec = exp['answer']
    grouped = 'key' in spec['cols']
    want_eps, want_delta = ctx.cost(spec, grouped)
    problems = []
    refusals = []
    for i, run in enumerate(runs, 1):
        if 'error' in run:
            refusals.append(run['error'])
            problems.append(f"execution {i}: refused: {fmt_err(run['error'])}")
            if not charged_nothing(run):
                problems.append(f"execution {i}: refused but charged epsilon {run['eps']:g} in {run['charges']} charges")
            continue
        problems += [f"execution {i}: {p}" for p in compare_rows(spec, rec['owner'], run, ctx)]
        if run['charges'] != 1 or not close(run['eps'], want_eps) or not close(run['delta'], want_delta, 1e-3):
            problems.append(f"execution {i}: charged epsilon {run['eps']:g}, delta {run['delta']:g} in "
                            f"{run['charges']} charges; expected one charge of epsilon {want_eps:g}, delta {want_delta:g}")
    ex = rec.get('explain') or {}
    if not refusals:
        if 'error' in ex:
            problems.append(f"EXPLAIN: {fmt_err(ex['error'])}")
        elif ex.get('epsilon') is None or not close(ex['epsilon'], want_eps):
            problems.append(f"EXPLAIN announces epsilon {ex.get('epsilon')}, expected {want_eps:g}")
    if not problems:
        return True, 'ok', '', []
    if refusals:
        return False, 'R', fmt_err(refusals[0]), problems
    return False, 'W', problems[0].split(': ', 1)[-1], problems


def negative_controls(records, by_name, ctx):
    """A passing record, spoiled three ways, must fail check()."""
    import copy
    good = None
    for rec in records:
        shape = by_name.get(rec.get('shape'))
        if shape and 'answer' in shape['expect'] and 'runs' in rec:
            spec = shape['expect']['answer']
            if (spec['cols'][:2] == ['key', 'count'] and spec.get('units', 0) >= ctx.present_units
                    and 'error' not in rec['owner'] and check(shape, rec, ctx)[0]):
                good = (shape, rec)
                break
    if good is None:
        tap.ok(False, 'negative controls: no passing grouped count to spoil')
        return
    shape, rec = good
    draws = ctx.draws
    spec = shape['expect']['answer']
    off = copy.deepcopy(rec)
    row = off['runs'][0]['rows'][0]
    truth = next(t for t in rec['owner']['rows'] if t[0] == row[0])
    row[1] = num(truth[1]) + 1.01 * ctx.margin('count', spec, True) + 1
    missing = copy.deepcopy(rec)
    del missing['runs'][0]['rows'][0]
    twice = copy.deepcopy(rec)
    twice['runs'][0]['charges'] = 2
    twice['runs'][0]['eps'] *= 2
    results = [check(shape, r, ctx)[0] for r in (off, missing, twice)]
    ctx.draws = draws
    tap.ok(results == [False, False, False],
           f"negative controls on {rec['mode']} {shape['name']}: a count just outside its margin, a missing "
           "large group and an execution charged twice each fail", results)


def server_log_protocols(modes):
    """Per mode, how the analyst's statements over orders reached the server."""
    seen = {m: {'simple': 0, 'unnamed': 0, 'named': 0, 'param_simple': 0} for m in modes}
    if not SERVER_LOG:
        return None
    pat = re.compile(rf' {re.escape(BI_USER)} bi-(\S+) LOG:  (statement|execute ([^:]+)): (.*)')
    with open(SERVER_LOG, errors='replace') as f:
        for line in f:
            mt = pat.search(line)
            if not mt or mt.group(1) not in seen:
                continue
            text = mt.group(4)
            if 'orders' not in text or text.upper().startswith('EXPLAIN'):
                continue
            s = seen[mt.group(1)]
            if mt.group(2) == 'statement':
                s['simple'] += 1
            elif mt.group(3) in ('<unnamed>',):
                s['unnamed'] += 1
            elif mt.group(3).startswith('fetch'):
                continue
            else:
                s['named'] += 1
            if '$1' in text and mt.group(2) == 'statement':
                s['param_simple'] += 1
    return seen


# ------------------------------------------------------------------ main

MODES = ['psycopg2', 'psycopg-simple', 'psycopg-extended', 'psycopg-prepared', 'pyodbc', 'jdbc', 'jdbc-prepared']


def main():
    t_start = time.time()
    wanted = [m for m in (os.environ.get('BI_MODES') or ','.join(MODES)).split(',') if m]
    shapes = load_corpus()
    by_name = {s['name']: s for s in shapes}
    admin = Admin()

    # ---- who the analyst is, what it may do, what it pays
    import psycopg2
    bi = psycopg2.connect(host=HOST, port=PORT, dbname=DB, user=BI_USER, application_name='bi-setup')
    bi.autocommit = True
    with bi.cursor() as cur:
        cur.execute("SELECT current_user, r.rolsuper, has_table_privilege('orders', 'SELECT'), "
                    "has_table_privilege('customers', 'SELECT'), current_setting('search_path'), "
                    "current_setting('privstat.epsilon'), current_setting('privstat.selection_epsilon'), "
                    "current_setting('privstat.selection_delta') FROM pg_roles r WHERE r.rolname = current_user")
        user, su, sel_o, sel_c, path, e, se, sd = cur.fetchone()
    bi.close()
    ctx = Context(admin, {'privstat.epsilon': e, 'privstat.selection_epsilon': se, 'privstat.selection_delta': sd})
    tap.ok(user == BI_USER and not su, f"connected as {BI_USER}, not a superuser")
    tap.ok(not sel_o and not sel_c, f"{BI_USER} holds no SELECT on orders or customers", [sel_o, sel_c])
    tap.ok('privstat' not in path, f"{BI_USER}'s search_path ({path}) leaves privstat out: pseudonym "
                                   "comparisons must work without it", path)
    tap.note(f"{len(shapes)} shapes; epsilon {ctx.eps:g} per aggregate, selection epsilon {ctx.sel_eps:g} and delta "
             f"{ctx.sel_delta:g} per GROUP BY; k = {ctx.k}, m = {ctx.m}; groups of {ctx.present_units:g} units or more "
             f"must be released (tau = {ctx.tau}); margins {K} noise scales")
    tap.ok(len(shapes) >= 60 and len(by_name) == len(shapes), f"the corpus holds {len(shapes)} shapes with distinct names")

    # ---- run every mode
    records = []
    versions = {}
    for mode in wanted:
        t0 = time.time()
        if mode == 'psycopg2':
            drv = Psycopg2Driver()
        elif mode.startswith('psycopg-'):
            drv = PsycopgDriver(mode)
        elif mode == 'pyodbc':
            drv = PyodbcDriver()
        else:
            drv = None
        if drv is not None:
            versions[mode] = drv.version
            try:
                records += run_python_mode(drv, shapes, admin)
            except Exception as ex:			# a crash of the harness or the driver
                records.append({'mode': mode, 'crash': f"{type(ex).__name__}: {ex}"})
        else:
            threshold, repeat = (1, REPEAT) if mode == 'jdbc-prepared' else (5, 1)
            versions[mode] = f"pgjdbc, prepareThreshold={threshold}"
            try:
                records += run_java_mode(mode, threshold, repeat)
            except Exception as ex:
                records.append({'mode': mode, 'crash': f"{type(ex).__name__}: {ex}"})
        tap.note(f"{mode} ({versions[mode]}): {time.time() - t0:.1f} s")

    # ---- judge them, one place for all drivers
    table = {}
    ratios = {m: [] for m in wanted}
    for rec in records:
        mode = rec['mode']
        if 'note' in rec:
            tap.note(rec['note'])
            continue
        if 'version' in rec:
            tap.note(f"{mode}: {rec['version']}")
            continue
        if 'crash' in rec:
            tap.ok(False, f"{mode}: the runner finished", rec['crash'])
            continue
        shape = by_name[rec['shape']]
        desc = f"{mode} {shape['name']} ({shape['tool']})"
        if 'skip' in rec:
            tap.ok(True, desc, skip=rec['skip'])
            table[(shape['name'], mode)] = ('S', rec['skip'])
            continue
        good, code, why, problems = check(shape, rec, ctx)
        exp = shape['expect']
        what = ('answered within margins, each execution charged once' if 'answer' in exp else
                'refused, nothing charged' if 'refused' in exp else 'no row, nothing charged')
        tap.ok(good, f"{desc}: {what}", problems[:12] + (['...'] if len(problems) > 12 else []))
        table[(shape['name'], mode)] = (code, why)
        if 'answer' in exp and 'error' not in rec['owner']:
            first = rec['runs'][0]
            if 'error' not in first and rec['owner']['ms'] > 0:
                ratios[mode].append(first['ms'] / rec['owner']['ms'])

    # ---- how the statements reached the server
    seen = server_log_protocols(wanted)
    if seen is not None:
        for mode in wanted:
            s = seen[mode]
            if mode in ('psycopg2', 'psycopg-simple'):
                good = s['simple'] > 0 and s['unnamed'] == 0 and s['named'] == 0
                what = 'the simple protocol only'
            elif mode in ('psycopg-extended', 'jdbc'):
                good = s['unnamed'] > 0 and s['simple'] == 0 and s['named'] == 0
                what = 'unnamed extended-protocol statements only'
            elif mode in ('psycopg-prepared', 'jdbc-prepared'):
                good = s['named'] > 0 and s['simple'] == 0 and s['unnamed'] == 0
                what = 'named prepared statements only'
            else:
                # (a statement refused when planned logs no execute line)
                good = s['named'] + s['unnamed'] > 0 and s['param_simple'] == 0
                what = "server-side binding (execute lines) for the statements with parameters"
            tap.ok(good, f"{mode}: the server log shows {what}", json.dumps(s))

    # ---- negative controls: the checker rejects what it must reject
    negative_controls(records, by_name, ctx)

    # ---- the chance of a false failure
    bound = ctx.draws * max(P_TAIL, math.exp(-K))
    tap.ok(bound <= 1e-6, f"{ctx.draws} noisy values and groups compared at {K} noise scales: "
                          f"a correct build fails by chance with probability below {bound:.1e}")

    # ---- summary
    abbrev = {'psycopg2': 'p2', 'psycopg-simple': 'ps', 'psycopg-extended': 'pe', 'psycopg-prepared': 'pp',
              'pyodbc': 'od', 'jdbc': 'jd', 'jdbc-prepared': 'jp'}
    tap.note('')
    tap.note('summary: ok; R refused; W answered or charged wrongly; A answered where a refusal is expected;')
    tap.note('C a probe that returned rows or charged; E another error; O the owner failed; S skipped; - not run')
    width = max(len(s['name']) for s in shapes)
    tap.note(f"{'':<{width}}  " + ' '.join(f"{abbrev.get(m, m[:2]):<2}" for m in wanted))
    for s in shapes:
        cells = [table.get((s['name'], m), ('-', '')) for m in wanted]
        whys = {}
        for m, (code, why) in zip(wanted, cells):
            if code not in ('ok', 'S') and why:
                whys.setdefault(why, []).append(abbrev.get(m, m))
        why = '' if not whys else (next(iter(whys)) if len(whys) == 1 else
                                   ' / '.join(f"{','.join(ms)}: {w}" for w, ms in whys.items()))
        tap.note(f"{s['name']:<{width}}  " + ' '.join(f"{c:<2}" for c, _ in cells) + (f"  {why}" if why else ''))
    for mode in wanted:
        codes = [table.get((s['name'], mode), ('-', ''))[0] for s in shapes if 'answer' in s['expect']]
        run = [c for c in codes if c != 'S']
        tap.note(f"{mode}: {codes.count('ok')} of {len(run)} answer shapes pass, {codes.count('R')} refused, "
                 f"{codes.count('W')} answered wrongly")
    for mode in wanted:
        r = ratios[mode]
        med = f"{statistics.median(r):.2f}" if r else 'n/a'
        tap.note(f"median restricted/owner latency ratio: {med} ({mode}, {len(r)} answered shapes)")
    tap.note(f"total {time.time() - t_start:.1f} s")


if __name__ == '__main__':
    try:
        main()
    except Exception as ex:
        import traceback
        tap.ok(False, f"unexpected error: {ex}", traceback.format_exc())
    print(f"1..{tap.n}")
    sys.exit(1 if tap.failures else 0)

// The pgjdbc runner of the BI corpus test (test/bi/README.md): runs every shape
// of corpus.json through PreparedStatements, as the owner and as the analyst,
// and prints one JSON record per shape on stdout, the same records
// test/bi/corpus.py makes for the Python drivers; corpus.py judges them all.
//
// Per shape: the owner executes the SQL once; for an answer shape the analyst
// runs EXPLAIN (the cost privstat announces); then the analyst executes the
// same PreparedStatement `repeat` times, its budget read by the owner before
// and after each execution.  With prepareThreshold=1 every statement is a
// named server-side statement from its first execution, so repeat = 6 runs
// PostgreSQL's five custom plans and then lets it choose a generic one.
//
// Usage: java -cp postgresql.jar:DIR BiCorpus corpus.json MODE JDBC_URL BI_USER
//            ADMIN_USER PREPARE_THRESHOLD REPEAT BI_OPTIONS ADMIN_OPTIONS
// (the OPTIONS are each connection's libpq-style "options": statement_timeout,
// and privstat on the owner's search_path).  Dates and timestamps are
// compared as instants, numbers in their shortest decimal form: pgjdbc reads a
// named statement's results in binary and an unnamed one's in text.

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

public class BiCorpus {
	static String mode;

	public static void main(String[] args) throws Exception {
		String corpusPath = args[0];
		mode = args[1];
		String url = args[2];
		String biUser = args[3];
		String adminUser = args[4];
		String threshold = args[5];
		int repeat = Integer.parseInt(args[6]);
		String biOptions = args[7];
		String adminOptions = args[8];

		Object corpus = new Json(new String(Files.readAllBytes(Paths.get(corpusPath)), StandardCharsets.UTF_8)).parse();
		@SuppressWarnings("unchecked")
		List<Object> shapes = (List<Object>) ((Map<String, Object>) corpus).get("shapes");

		Connection owner = connect(url, adminUser, threshold, adminOptions);
		Connection bi = connect(url, biUser, threshold, biOptions);
		Connection ledger = connect(url, adminUser, "5", adminOptions);
		PreparedStatement budget = ledger.prepareStatement(
			"SELECT epsilon_spent, delta_spent, charges FROM privstat.budget_status WHERE role = ?::regrole");
		budget.setString(1, biUser);

		for (Object o : shapes) {
			@SuppressWarnings("unchecked")
			Map<String, Object> s = (Map<String, Object>) o;
			Map<String, Object> rec = new LinkedHashMap<>();
			rec.put("mode", mode);
			rec.put("shape", s.get("name"));
			@SuppressWarnings("unchecked")
			List<Object> only = (List<Object>) s.get("only");
			if (only != null && !only.contains("jdbc")) {
				rec.put("skip", s.containsKey("why") ? s.get("why") : "not for this driver");
				System.out.println(Json.write(rec));
				continue;
			}
			String sql = (String) s.get("sql");
			@SuppressWarnings("unchecked")
			List<Object> params = (List<Object>) s.get("params");
			@SuppressWarnings("unchecked")
			Map<String, Object> expect = (Map<String, Object>) s.get("expect");

			rec.put("owner", timed(owner, sql, params, 1).get(0));
			if (expect.containsKey("answer")) {
				Map<String, Object> ex = timed(bi, "EXPLAIN " + sql, params, 1).get(0);
				rec.put("explain", ex.containsKey("error") ? ex : parseExplain(ex));
			}
			List<Object> runs = new ArrayList<>();
			try (PreparedStatement ps = bi.prepareStatement(sql)) {
				bind(ps, params);
				for (int i = 0; i < repeat; i++) {
					double[] before = read(budget);
					Map<String, Object> run = execute(ps);
					double[] after = read(budget);
					run.put("eps", after[0] - before[0]);
					run.put("delta", after[1] - before[1]);
					run.put("charges", (long) (after[2] - before[2]));
					runs.add(run);
				}
			}
			rec.put("runs", runs);
			System.out.println(Json.write(rec));
		}

		if (threshold.equals("1")) {
			try (PreparedStatement ps = bi.prepareStatement(
					 "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) FROM pg_prepared_statements");
				 ResultSet rs = ps.executeQuery()) {
				rs.next();
				Map<String, Object> note = new LinkedHashMap<>();
				note.put("mode", mode);
				note.put("note", mode + ": the analyst's named statements ran " + rs.getLong(1) + " generic and "
						 + rs.getLong(2) + " custom plans");
				System.out.println(Json.write(note));
			}
		}
		Map<String, Object> version = new LinkedHashMap<>();
		version.put("mode", mode);
		version.put("version", "pgjdbc " + bi.getMetaData().getDriverVersion() + ", Java "
					+ System.getProperty("java.version") + ", prepareThreshold=" + threshold);
		System.out.println(Json.write(version));
		owner.close();
		bi.close();
		ledger.close();
	}

	static Connection connect(String url, String user, String threshold, String options) throws SQLException {
		Properties p = new Properties();
		p.setProperty("user", user);
		p.setProperty("ApplicationName", "bi-" + mode);
		p.setProperty("prepareThreshold", threshold);
		p.setProperty("options", options);
		return DriverManager.getConnection(url, p);
	}

	// corpus parameters as a BI tool binds them: dates with setDate,
	// naive timestamps with setTimestamp, numbers and strings as they are
	static void bind(PreparedStatement ps, List<Object> params) throws SQLException {
		for (int i = 0; params != null && i < params.size(); i++) {
			Object v = params.get(i);
			if (v instanceof Map) {
				Map<?, ?> m = (Map<?, ?>) v;
				if (m.containsKey("date"))
					ps.setDate(i + 1, java.sql.Date.valueOf((String) m.get("date")));
				else
					ps.setTimestamp(i + 1, java.sql.Timestamp.valueOf((String) m.get("timestamp")));
			} else if (v instanceof Long) {
				long l = (Long) v;
				if (l == (int) l)
					ps.setInt(i + 1, (int) l);
				else
					ps.setLong(i + 1, l);
			} else if (v instanceof Double)
				ps.setDouble(i + 1, (Double) v);
			else
				ps.setString(i + 1, (String) v);
		}
	}

	static List<Map<String, Object>> timed(Connection c, String sql, List<Object> params, int times) {
		List<Map<String, Object>> out = new ArrayList<>();
		try (PreparedStatement ps = c.prepareStatement(sql)) {
			bind(ps, params);
			for (int i = 0; i < times; i++)
				out.add(execute(ps));
		} catch (SQLException e) {
			out.add(error(e, 0));
		}
		return out;
	}

	static Map<String, Object> execute(PreparedStatement ps) {
		long t0 = System.nanoTime();
		Map<String, Object> r = new LinkedHashMap<>();
		try (ResultSet rs = ps.executeQuery()) {
			ResultSetMetaData md = rs.getMetaData();
			List<Object> cols = new ArrayList<>();
			for (int i = 1; i <= md.getColumnCount(); i++)
				cols.add(md.getColumnLabel(i));
			List<Object> rows = new ArrayList<>();
			while (rs.next()) {
				List<Object> row = new ArrayList<>();
				for (int i = 1; i <= md.getColumnCount(); i++)
					row.add(canonical(rs, i));
				rows.add(row);
			}
			r.put("cols", cols);
			r.put("rows", rows);
			r.put("ms", (System.nanoTime() - t0) / 1e6);
			return r;
		} catch (SQLException e) {
			return error(e, (System.nanoTime() - t0) / 1e6);
		}
	}

	static Object canonical(ResultSet rs, int i) throws SQLException {
		Object v = rs.getObject(i);
		if (v == null)
			return null;
		if (v instanceof java.sql.Timestamp)
			return ((java.sql.Timestamp) v).toInstant().toString();
		if (v instanceof java.sql.Date)
			return v.toString();
		if (v instanceof Number) {
			try {
				return new java.math.BigDecimal(v.toString()).stripTrailingZeros().toPlainString();
			} catch (NumberFormatException e) {
				return v.toString();		/* NaN, Infinity */
			}
		}
		return rs.getString(i);
	}

	static Map<String, Object> error(SQLException e, double ms) {
		Map<String, Object> err = new LinkedHashMap<>();
		err.put("sqlstate", e.getSQLState());
		String msg = e.getMessage();
		if (e instanceof org.postgresql.util.PSQLException) {
			org.postgresql.util.ServerErrorMessage sem = ((org.postgresql.util.PSQLException) e).getServerErrorMessage();
			if (sem != null && sem.getMessage() != null)
				msg = sem.getMessage();
		}
		err.put("message", msg);
		Map<String, Object> r = new LinkedHashMap<>();
		r.put("error", err);
		r.put("ms", ms);
		return r;
	}

	static Map<String, Object> parseExplain(Map<String, Object> ex) {
		StringBuilder text = new StringBuilder();
		for (Object row : (List<?>) ex.get("rows"))
			text.append(((List<?>) row).get(0)).append('\n');
		Map<String, Object> r = new LinkedHashMap<>();
		r.put("epsilon", find(text, "Privacy Cost Epsilon: "));
		r.put("delta", find(text, "Privacy Cost Delta: "));
		return r;
	}

	static Double find(StringBuilder text, String label) {
		int i = text.indexOf(label);
		if (i < 0)
			return null;
		int j = i + label.length(), k = j;
		while (k < text.length() && "0123456789.eE+-".indexOf(text.charAt(k)) >= 0)
			k++;
		return Double.valueOf(text.substring(j, k));
	}

	static double[] read(PreparedStatement budget) throws SQLException {
		try (ResultSet rs = budget.executeQuery()) {
			rs.next();
			return new double[] {rs.getDouble(1), rs.getDouble(2), rs.getLong(3)};
		}
	}

	// Just enough JSON for corpus.json and the records: objects, arrays,
	// strings, numbers (integers as Long, others as Double), true, false, null.
	static class Json {
		final String s;
		int i;

		Json(String s) {
			this.s = s;
		}

		Object parse() {
			ws();
			Object v = value();
			ws();
			if (i != s.length())
				throw new IllegalArgumentException("trailing text at " + i);
			return v;
		}

		void ws() {
			while (i < s.length() && Character.isWhitespace(s.charAt(i)))
				i++;
		}

		Object value() {
			ws();
			char c = s.charAt(i);
			if (c == '{') {
				Map<String, Object> m = new LinkedHashMap<>();
				i++;
				ws();
				if (s.charAt(i) == '}') {
					i++;
					return m;
				}
				while (true) {
					ws();
					String k = string();
					ws();
					expect(':');
					m.put(k, value());
					ws();
					if (s.charAt(i) == ',') {
						i++;
						continue;
					}
					expect('}');
					return m;
				}
			}
			if (c == '[') {
				List<Object> l = new ArrayList<>();
				i++;
				ws();
				if (s.charAt(i) == ']') {
					i++;
					return l;
				}
				while (true) {
					l.add(value());
					ws();
					if (s.charAt(i) == ',') {
						i++;
						continue;
					}
					expect(']');
					return l;
				}
			}
			if (c == '"')
				return string();
			if (s.startsWith("true", i)) {
				i += 4;
				return Boolean.TRUE;
			}
			if (s.startsWith("false", i)) {
				i += 5;
				return Boolean.FALSE;
			}
			if (s.startsWith("null", i)) {
				i += 4;
				return null;
			}
			int j = i;
			while (i < s.length() && "0123456789.eE+-".indexOf(s.charAt(i)) >= 0)
				i++;
			String n = s.substring(j, i);
			if (n.isEmpty())
				throw new IllegalArgumentException("unexpected '" + c + "' at " + j);
			return n.matches("-?\\d+") ? (Object) Long.valueOf(n) : (Object) Double.valueOf(n);
		}

		void expect(char c) {
			if (s.charAt(i) != c)
				throw new IllegalArgumentException("expected '" + c + "' at " + i);
			i++;
		}

		String string() {
			expect('"');
			StringBuilder b = new StringBuilder();
			while (true) {
				char c = s.charAt(i++);
				if (c == '"')
					return b.toString();
				if (c != '\\') {
					b.append(c);
					continue;
				}
				char e = s.charAt(i++);
				switch (e) {
					case 'n': b.append('\n'); break;
					case 't': b.append('\t'); break;
					case 'r': b.append('\r'); break;
					case 'b': b.append('\b'); break;
					case 'f': b.append('\f'); break;
					case 'u':
						b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
						i += 4;
						break;
					default: b.append(e);
				}
			}
		}

		static String write(Object v) {
			StringBuilder b = new StringBuilder();
			write(b, v);
			return b.toString();
		}

		static void write(StringBuilder b, Object v) {
			if (v == null)
				b.append("null");
			else if (v instanceof String) {
				b.append('"');
				for (char c : ((String) v).toCharArray()) {
					if (c == '"' || c == '\\')
						b.append('\\').append(c);
					else if (c < 0x20)
						b.append(String.format("\\u%04x", (int) c));
					else
						b.append(c);
				}
				b.append('"');
			} else if (v instanceof Double) {
				double d = (Double) v;
				b.append(Double.isFinite(d) ? Double.toString(d) : "null");
			} else if (v instanceof Number || v instanceof Boolean)
				b.append(v);
			else if (v instanceof Map) {
				b.append('{');
				boolean first = true;
				for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
					if (!first)
						b.append(',');
					first = false;
					write(b, e.getKey().toString());
					b.append(':');
					write(b, e.getValue());
				}
				b.append('}');
			} else if (v instanceof List) {
				b.append('[');
				boolean first = true;
				for (Object o : (List<?>) v) {
					if (!first)
						b.append(',');
					first = false;
					write(b, o);
				}
				b.append(']');
			} else
				write(b, v.toString());
		}
	}
}

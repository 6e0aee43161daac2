-- One round of sql/release_cache.sql: the same query twice as rc_analyst, at
-- top level, after the change named :'change'.  The first run must be
-- charged and give a new answer (not that of the round before), the second
-- must be free and identical.
SET ROLE rc_analyst;
SELECT rc_spent('rc_analyst') AS s0 \gset
SELECT count(*) AS a, avg(amount) AS b FROM rc_events WHERE day < 7 \gset r1_
SELECT rc_spent('rc_analyst') AS s1 \gset
SELECT count(*) AS a, avg(amount) AS b FROM rc_events WHERE day < 7 \gset r2_
SELECT rc_spent('rc_analyst') AS s2 \gset
RESET ROLE;
SELECT :'change' AS change, :s1 > :s0 AS first_charged, :s2 = :s1 AS second_free,
	   :'r1_a' = :'r2_a' AND :'r1_b' = :'r2_b' AS identical, :'r1_b' <> :'prev' AS new_answer;
\set prev :r1_b

"""How the registrar's statements are read from auto_explain's lines in the database's log (benchmarks/_plans.py)."""

from benchmarks._plans import EXPLAINING, NOTE_A_CHANGE, parse, shape

# As PostgreSQL 15 writes them with the database role's log_line_prefix ('%m [%p] %q%u@%d %h '): a plan per entry, its
# continuation lines indented by a tab; other entries between them.
LOG = """\
2026-12-07 15:17:06.772 UTC [11831] kamailio_location@rtcstack 198.18.10.12 LOG:  duration: 0.023 ms  plan:
\tQuery Text: select table_version from version where table_name='location'
\tIndex Scan using version_table_name_idx on version  (cost=0.15..8.17 rows=1 width=4)
\t  Index Cond: ((table_name)::text = 'location'::text)
2026-12-07 15:17:08.417 UTC [11873] kamailio@rtcstack 198.18.10.12 LOG:  duration: 1.120 ms  plan:
\tQuery Text: SELECT DISTINCT username FROM registrant_changes WHERE changed_at > clock_timestamp() - interval '30 seconds'
\tUnique  (cost=10000000043.86..10000000045.65 rows=177 width=32)
\t  ->  Sort  (cost=10000000043.86..10000000044.75 rows=357 width=32)
\t        ->  Seq Scan on registrant_changes  (cost=10000000000.00..10000000028.73 rows=357 width=32)
2026-12-07 15:17:09.001 UTC [11873] kamailio@rtcstack 198.18.10.12 LOG:  connection authorized: user=kamailio
2026-12-07 15:17:11.435 UTC [11861] kamailio@rtcstack 198.18.10.12 LOG:  duration: 0.117 ms  plan:
\tQuery Text: SELECT CASE WHEN generation = -1 THEN NULL ELSE call_start_row('load-sipcalls-00000', 'b') END FROM call_generation
\tSeq Scan on call_generation  (cost=10000000000.00..10000000587.50 rows=2200 width=32)
2026-12-07 15:17:11.653 UTC [11852] kamailio@rtcstack 198.18.10.12 LOG:  duration: 0.110 ms  plan:
\tQuery Text: SELECT CASE WHEN generation = 33 THEN NULL ELSE call_start_row('load-sipcalls-00002', 'c') END FROM call_generation
\tSeq Scan on call_generation  (cost=10000000000.00..10000000587.50 rows=2200 width=32)
2026-12-07 15:17:12.100 UTC [11852] kamailio@rtcstack 198.18.10.12 LOG:  duration: 0.050 ms  plan:
\tQuery Text: SELECT s.channels FROM active_terms s
\t    WHERE s.profile_id = profile ORDER BY s.starts_at DESC LIMIT 1
\tLimit  (cost=8.18..8.19 rows=1 width=12)
\t  ->  Bitmap Heap Scan on channel_subscriptions  (cost=4.17..11.28 rows=3 width=12)
\t        ->  Bitmap Index Scan on ix_channel_subscriptions_profile_id  (cost=0.00..4.17 rows=3 width=0)
\t  ->  Index Only Scan Backward using customers_pkey on customers c  (cost=0.15..8.17 rows=1 width=4)
"""


def test_each_statement_is_read_once_whatever_its_values_with_how_it_reads_each_table():
    statements = parse(LOG)
    assert len(statements) == 4  # the two reads of call_generation differ in their values only
    version = statements["select table_version from version where table_name='?'"]
    assert version.login == "kamailio_location" and version.reads == {"version": {"Index Scan using version_table_name_idx"}}
    terms = statements["SELECT s.channels FROM active_terms s WHERE s.profile_id = profile ORDER BY s.starts_at DESC "
                       "LIMIT N"]
    # (the bitmap's index scan is its heap scan's, not a table of its own)
    assert terms.reads == {"channel_subscriptions": {"Bitmap Heap Scan"},
                           "customers": {"Index Only Scan using customers_pkey"}}
    assert terms.read_whole() == [] and version.read_whole() == []


def test_a_table_read_whole_is_named_unless_it_is_one_row_by_design():
    statements = parse(LOG)
    changes = next(s for s in statements.values() if "registrant_changes" in s.text)
    assert changes.read_whole() == ["registrant_changes"]
    generation = next(s for s in statements.values() if "call_generation" in s.text)
    assert generation.reads == {"call_generation": {"Seq Scan"}} and generation.read_whole() == []


def test_a_statements_shape_keeps_its_text_and_takes_its_values_out():
    assert shape("SELECT  x FROM t\n WHERE a = 'it''s' AND b = -12 AND c = $1 AND d.e2 = 3.5") == \
        "SELECT x FROM t WHERE a = '?' AND b = N AND c = $1 AND d.e2 = N"


def test_the_change_noted_for_its_plans_is_rolled_back_and_explains_with_the_same_settings():
    lines = NOTE_A_CHANGE.splitlines()
    assert lines[0] == "BEGIN;" and lines[-1] == "ROLLBACK;" and "LOAD 'auto_explain';" in lines
    assert {f"SET LOCAL {k} = {v};" for k, v in EXPLAINING.items() if k != "session_preload_libraries"} <= set(lines)

"""A dataset as an Athena query: which tables it reads, and the UNLOAD the pipeline runs."""

from __future__ import annotations

import pytest

from mlcore.queries import QueryError, QueryTable, query_tables, unload_statement


def test_the_tables_of_a_query_are_its_from_and_join_tables_and_not_its_with_names() -> None:
    sql = """
        WITH recent AS (SELECT * FROM Labels WHERE day > date '2026-01-01')
        SELECT r.*, p.price FROM recent r JOIN datasets.prices p ON r.id = p.id
        UNION ALL SELECT l.*, NULL FROM labels l WHERE regexp_like(l.region, '[a-z]+')
    """
    assert set(query_tables(sql)) == {QueryTable(None, "labels"), QueryTable("datasets", "prices")}


def test_a_table_named_like_a_with_clause_but_in_a_database_is_a_table() -> None:
    sql = "WITH labels AS (SELECT * FROM other.labels) SELECT * FROM labels"
    assert query_tables(sql) == [QueryTable("other", "labels")]


@pytest.mark.parametrize(
    "sql",
    [
        # a WITH inside a subquery names nothing outside it
        "SELECT * FROM secret UNION ALL SELECT * FROM (WITH secret AS (SELECT * FROM ok) SELECT * FROM secret)",
        # a WITH is not in scope in its own body (not RECURSIVE): the inner name is the table
        "WITH secret AS (SELECT * FROM secret) SELECT * FROM secret, ok",
    ],
)
def test_a_with_name_hides_a_table_only_where_it_is_in_scope(sql: str) -> None:
    assert set(query_tables(sql)) == {QueryTable(None, "secret"), QueryTable(None, "ok")}


def test_a_later_with_clause_reads_an_earlier_one_not_a_table() -> None:
    sql = "WITH a AS (SELECT * FROM t1), b AS (SELECT * FROM a JOIN t2 ON a.x = t2.x) SELECT * FROM b"
    assert set(query_tables(sql)) == {QueryTable(None, "t1"), QueryTable(None, "t2")}


def test_a_subquery_in_where_reads_its_table_too() -> None:
    sql = "SELECT * FROM a WHERE id IN (SELECT id FROM secret.b)"
    assert set(query_tables(sql)) == {QueryTable(None, "a"), QueryTable("secret", "b")}


def test_athenas_own_catalog_may_be_named() -> None:
    assert query_tables("SELECT * FROM AwsDataCatalog.datasets.t") == [QueryTable("datasets", "t")]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT 1", "the query reads no table"),
        ("SELECT * FROM UNNEST(ARRAY[1, 2]) AS t(x)", "the query reads no table"),
        ("INSERT INTO t SELECT * FROM u", "one SELECT statement (got INSERT)"),
        ("CREATE TABLE t AS SELECT * FROM u", "one SELECT statement (got CREATE)"),
        ("SELECT * FROM t; SELECT * FROM u", "one SELECT statement (got SELECT, SELECT)"),
        ("", "one SELECT statement (got nothing)"),
        ("SELECT * FROM mysql.db.t", "from the catalog 'mysql'"),
        ("SELECT * FROM (", "the query does not parse as Athena SQL"),
    ],
)
def test_a_query_that_is_not_one_select_over_tables_is_refused(sql: str, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        query_tables(sql)


def test_a_closing_semicolon_and_the_comment_after_it_are_not_part_of_the_query() -> None:
    assert query_tables("SELECT * FROM t; -- the labels") == [QueryTable(None, "t")]
    assert unload_statement("SELECT * FROM t; -- the labels", "s3://b/k/").startswith("UNLOAD (\nSELECT * FROM t\n)")


def test_the_unload_writes_parquet_to_the_folder_and_keeps_the_query_as_written() -> None:
    statement = unload_statement("  SELECT * FROM t WHERE s = 'a;b' ;\n", "s3://data/queries/m/r/unload/")
    assert statement == (
        "UNLOAD (\nSELECT * FROM t WHERE s = 'a;b'\n) TO 's3://data/queries/m/r/unload/' "
        "WITH (format = 'PARQUET', compression = 'SNAPPY')"
    )

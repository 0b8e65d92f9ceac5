"""A model's dataset as an Athena query (`data.source.athena_sql`): what the query may read, and how it runs.

The query is one SELECT over tables of the platform's datasets database. The training pipeline runs it as
an UNLOAD to Parquet under `queries/<model>/<run>/unload/` (Step Functions' Athena integration), and the
validate step reads what it wrote. Parsing uses sqlglot's Athena (Trino) dialect, imported only here.
"""

from __future__ import annotations

from dataclasses import dataclass

QUERY_FIELD = "data.source.athena_sql"
DIALECT = "athena"
# Athena's own catalog; a query naming another (a federated source) reads what the platform cannot check.
GLUE_CATALOG = "awsdatacatalog"


class QueryError(ValueError):
    """A query the platform will not run: it does not parse, is not one SELECT, or names another catalog."""


@dataclass(frozen=True)
class QueryTable:
    """A table a query reads: its database (None: the database the query runs in) and name."""

    database: str | None
    name: str


def query_tables(sql: str) -> list[QueryTable]:
    """The tables a query reads, each once; the names its WITH clause defines are not tables.

    Raises
    ------
    QueryError
        When the text does not parse as one SELECT (or WITH ... SELECT, or a UNION of them), or names a catalog
        other than Athena's own.
    """
    import sqlglot  # the validate step and the CLI; never the serving path
    from sqlglot import expressions as exp

    try:
        statements = [statement for statement in sqlglot.parse(sql, read=DIALECT) if statement is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise QueryError(f"the query does not parse as Athena SQL: {str(exc).splitlines()[0]}") from exc
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        kinds = ", ".join(type(statement).__name__.upper() for statement in statements) or "nothing"
        raise QueryError(f"the query must be one SELECT statement (got {kinds})")
    tree = statements[0]
    defined = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    found: list[QueryTable] = []
    for table in tree.find_all(exp.Table):
        if not table.name:
            raise QueryError(f"the query reads from {table.sql(dialect=DIALECT)}: name a table of the database")
        if table.catalog and table.catalog.lower() != GLUE_CATALOG:
            raise QueryError(f"the query reads {table.sql(dialect=DIALECT)} from the catalog '{table.catalog}'")
        if not table.db and table.name.lower() in defined:
            continue
        entry = QueryTable(table.db.lower() or None, table.name.lower())
        if entry not in found:
            found.append(entry)
    if not found:
        raise QueryError("the query reads no table")
    return found


def unload_statement(sql: str, location: str) -> str:
    """The query as an Athena UNLOAD of its rows to Parquet files under `location` (an s3:// folder)."""
    body = sql.strip().rstrip(";").strip()
    return f"UNLOAD (\n{body}\n) TO '{location}' WITH (format = 'PARQUET', compression = 'SNAPPY')"

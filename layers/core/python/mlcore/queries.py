"""A model's dataset as an Athena query (`data.source.athena_sql`): what the query may read, and how it runs.

The query is one SELECT over tables of the platform's datasets database. The training pipeline runs it as
an UNLOAD to Parquet under `queries/<model>/<run>/unload/` (Step Functions' Athena integration), and the
validate step reads what it wrote. Parsing uses sqlglot's Athena (Trino) dialect, imported only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def _unparsed(error: Exception) -> QueryError:
    return QueryError(f"the query does not parse as Athena SQL: {str(error).splitlines()[0]}")


def query_body(sql: str) -> str:
    """The query without its closing semicolon (and what follows it: comments), as UNLOAD wraps it."""
    import sqlglot  # the validate step and the CLI; never the serving path
    from sqlglot.tokens import TokenType

    try:
        tokens = sqlglot.tokenize(sql, read=DIALECT)
    except sqlglot.errors.SqlglotError as exc:
        raise _unparsed(exc) from exc
    if tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        sql = sql[: tokens[-1].start]
    return sql.strip()


def query_tables(sql: str) -> list[QueryTable]:
    """The tables a query reads, each once. A name its WITH clause defines is not a table where the WITH is in
    scope (resolved scope by scope, as Athena does: `WITH t AS (SELECT * FROM t)` reads the table `t`).

    Raises
    ------
    QueryError
        When the text does not parse as one SELECT (or WITH ... SELECT, or a UNION of them), or names a catalog
        other than Athena's own.
    """
    import sqlglot
    from sqlglot import expressions as exp

    body = query_body(sql)
    try:
        statements = [statement for statement in sqlglot.parse(body, read=DIALECT) if statement is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise _unparsed(exc) from exc
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        kinds = ", ".join(type(statement).__name__.upper() for statement in statements) or "nothing"
        raise QueryError(f"the query must be one SELECT statement (got {kinds})")
    found: list[QueryTable] = []
    for table in table_references(statements[0]):
        entry = QueryTable(table.db.lower() or None, table.name.lower())
        if entry not in found:
            found.append(entry)
    if not found:
        raise QueryError("the query reads no table")
    return found


def table_references(tree: Any) -> list[Any]:
    """The `Table` nodes of a parsed query that name catalog tables (not its WITH clauses where they are in scope).

    Raises
    ------
    QueryError
        When a table names another catalog, or the query's names cannot be resolved.
    """
    import sqlglot
    from sqlglot import expressions as exp
    from sqlglot.optimizer.scope import traverse_scope

    try:
        scopes = list(traverse_scope(tree))
    except sqlglot.errors.SqlglotError as exc:
        raise QueryError(f"the query's names cannot be resolved: {str(exc).splitlines()[0]}") from exc
    real = {id(source) for scope in scopes for source in scope.sources.values() if isinstance(source, exp.Table)}
    # fail closed: a table no scope lists (a construct the scopes skip) is a catalog table, whatever its name
    scoped = {id(table) for scope in scopes for table in scope.tables}
    references = []
    for table in tree.find_all(exp.Table):
        if not table.name:
            raise QueryError(f"the query reads from {table.sql(dialect=DIALECT)}: name a table of the database")
        if table.catalog and table.catalog.lower() != GLUE_CATALOG:
            raise QueryError(f"the query reads {table.sql(dialect=DIALECT)} from the catalog '{table.catalog}'")
        if id(table) in real or id(table) not in scoped or table.db:
            references.append(table)
    return references


def unload_statement(sql: str, location: str) -> str:
    """The query as an Athena UNLOAD of its rows to Parquet files under `location` (an s3:// folder)."""
    return f"UNLOAD (\n{query_body(sql)}\n) TO '{location}' WITH (format = 'PARQUET', compression = 'SNAPPY')"

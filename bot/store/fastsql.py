"""The poll's many small writes on SQLite, without SQLAlchemy's per-statement work.

A cold poll of 1,000 feeds writes 30,000 items, their matches, stories, alerts and
feed rows. Through SQLAlchemy's Core, the statement cache lookup, parameter
processing and result wrapping cost more than SQLite itself (the items alone:
0.62 s of the writer's CPU, of which SQLite's own work is 0.25 s). Here each
statement is made once (an insert from its table's columns, a prebuilt UPDATE
compiled by SQLAlchemy) and then run on the session's DB-API connection inside
the session's transaction, its values converted by the columns' own bind
processors. Only SQLite takes this path; on PostgreSQL, and for
any statement this module cannot run as written, the callers' Core path runs.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.expression import Executable

from bot.store.schema import UTCDateTime

#: SQLite's limit on bound parameters per statement (3.32 and later; RETURNING,
#: which the writer needs anyway, came with 3.35)
MAX_PARAMS = 32_766

Processor = Callable[[Any], Any] | None


def sqlite_connection(connection: Connection) -> sqlite3.Connection | None:
    """A session's connection's sqlite3 connection, in the session's transaction;
    None on other databases."""
    if connection.dialect.name != "sqlite":
        return None
    driver = connection.connection.driver_connection
    return driver if isinstance(driver, sqlite3.Connection) else None


def insert_rows(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: tuple[str, ...] = (),
) -> list[tuple[Any, ...]] | None:
    """INSERT … ON CONFLICT DO NOTHING of `rows` (all with the same keys), as many
    rows per statement as SQLite takes; the `returning` values of each inserted row
    (in no promised order).

    None, having written nothing, when not on SQLite or when a column the rows
    leave out has a default computed in Python: then the caller's Core path runs.
    """
    if sqlite_connection(connection) is None:
        return None
    if not rows:
        return []
    keys = tuple(rows[0])
    if set(map(len, rows)) != {len(keys)}:  # as in Core: every row has the first row's keys
        raise ValueError("rows to insert must all have the same keys")
    values = [tuple(map(row.__getitem__, keys)) for row in rows]
    return insert_tuples(connection, table, keys, values, returning=returning)


def insert_tuples(
    connection: Connection,
    table: Table,
    keys: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    *,
    shared: Mapping[str, Any] | None = None,
    returning: tuple[str, ...] = (),
) -> list[tuple[Any, ...]] | None:
    """As `insert_rows`, for rows given as tuples of the `keys` columns' values, each
    row also taking `shared`'s values (a feed's id, the poll's time): no dict per
    row, and a shared value is converted once, not once per row.
    """
    driver, dialect = sqlite_connection(connection), connection.dialect
    if driver is None:
        return None
    if not rows:
        return []
    shared = shared or {}
    plan = _insert_plan(dialect, table, (*keys, *shared), returning)
    if plan is None:
        return None
    width = len(keys)
    if set(map(len, rows)) != {width}:
        raise ValueError("rows to insert must all have the same keys")
    fixed = [
        v if p is None else p(v)
        for v, p in zip(shared.values(), plan.processors[width:], strict=True)
    ]
    fixed += plan.defaults
    values: list[Any] = []
    for row in rows:
        values += row
        values += fixed
    width += len(fixed)
    # converted column by column: one C-level slice and map per column, not per value
    for column, processor in enumerate(plan.processors[: len(keys)]):
        if processor is not None:
            values[column::width] = map(processor, values[column::width])
    found: list[tuple[Any, ...]] = []
    step = max(1, MAX_PARAMS // width)
    for start in range(0, len(rows), step):
        count = min(step, len(rows) - start)
        cursor = driver.execute(plan.sql(count), values[start * width : (start + count) * width])
        found += cursor.fetchall() if returning else ()
    return found


def execute(connection: Connection, stmt: Executable, params: Mapping[str, Any]) -> None:
    """Run a prebuilt UPDATE with `params` (its bind parameters and, as in Core,
    SET values by column name): on SQLite straight on the driver, through Core
    elsewhere or when the statement needs what only Core does (expanding or
    literal parameters, Python-side defaults)."""
    execute_many(connection, stmt, [params])


def execute_many(
    connection: Connection, stmt: Executable, params: Sequence[Mapping[str, Any]]
) -> None:
    """`execute` for many parameter sets (all with the same keys), in one call (Core
    takes a list of one as a single execution, expanding parameters and all)."""
    if not params:
        return
    driver = sqlite_connection(connection)
    keys = tuple(params[0])
    plan = None if driver is None else _statement_plan(connection.dialect, stmt, keys)
    if driver is None or plan is None:
        connection.execute(stmt, list(params))
        return
    sql, names, processors = plan
    driver.executemany(
        sql,
        [
            [row[n] if p is None else p(row[n]) for n, p in zip(names, processors, strict=True)]
            for row in params
        ],
    )


# -- plans, built once per statement shape ------------------------------------------------


@dataclass(frozen=True, slots=True)
class _InsertPlan:
    #: each key's bind processor, in the order the values are bound
    processors: tuple[Processor, ...]
    #: bound after each row's: the left-out columns' plain defaults, as Core inserts them
    defaults: tuple[Any, ...]
    #: the SQL for one row, and what RETURNING adds
    head: str
    group: str
    tail: str

    def sql(self, rows: int) -> str:
        return _multi_row_sql(self.head, self.group, self.tail, rows)


@functools.lru_cache(maxsize=64)
def _insert_plan(
    dialect: Dialect, table: Table, keys: tuple[str, ...], returning: tuple[str, ...]
) -> _InsertPlan | None:
    defaulted: list[str] = []
    defaults: list[Any] = []
    for column in table.columns:
        if column.key in keys or column.default is None:
            continue
        if not column.default.is_scalar:
            return None
        processor = _processor(column.type, dialect)
        value = column.default.arg  # type: ignore[attr-defined]
        defaulted.append(column.key)
        defaults.append(value if processor is None else processor(value))
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(table.c[k].name) for k in (*keys, *defaulted))
    tail = " ON CONFLICT DO NOTHING"
    if returning:
        tail += " RETURNING " + ", ".join(quote(table.c[k].name) for k in returning)
    return _InsertPlan(
        processors=tuple(_processor(table.c[k].type, dialect) for k in keys),
        defaults=tuple(defaults),
        head=f"INSERT INTO {quote(table.name)} ({names}) VALUES ",
        group="(" + ", ".join("?" * (len(keys) + len(defaulted))) + ")",
        tail=tail,
    )


@functools.lru_cache(maxsize=256)
def _multi_row_sql(head: str, group: str, tail: str, rows: int) -> str:
    return head + ", ".join([group] * rows) + tail


@functools.lru_cache(maxsize=256)
def _statement_plan(
    dialect: Dialect, stmt: Executable, keys: tuple[str, ...]
) -> tuple[str, tuple[str, ...], tuple[Processor, ...]] | None:
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup or ())
    if (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.literal_execute_params
        or any(compiled.binds[n].expanding for n in names)
        or set(names) - set(keys)
    ):
        return None
    return compiled.string, names, tuple(_processor(compiled.binds[n].type, dialect) for n in names)


def _processor(type_: Any, dialect: Dialect) -> Processor:
    """The column type's bind processor on `dialect`, with a quicker one for UTC times."""
    processor: Processor = type_.dialect_impl(dialect).bind_processor(dialect)
    if isinstance(type_, UTCDateTime) and dialect.name == "sqlite" and processor is not None:
        return functools.partial(_sqlite_utc_datetime, processor)
    return processor


def _sqlite_utc_datetime(reference: Callable[[Any], Any], value: Any) -> Any:
    """What `reference`, UTCDateTime's processor, stores on SQLite for an aware datetime
    ("YYYY-MM-DD HH:MM:SS.ffffff", its zone dropped), in one C call rather than a
    dict and a %-format; anything else (None, a date, a naive time, which it refuses)
    goes to `reference` itself."""
    if type(value) is not datetime or value.tzinfo is None:
        return reference(value)
    return value.isoformat(" ", "microseconds")[:26]

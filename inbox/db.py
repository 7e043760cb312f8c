"""Database primitives the services share: conversation locks, and saving many rows at once.

Conversation locks are PostgreSQL advisory locks, held until the transaction ends.

They serialise every write to one conversation (and one relationship), so a receipt and its
message applied side by side cannot miss each other's uncommitted rows, and two new messages
never take the same position. An advisory lock needs no row to exist yet. SQLite has a single
writer and needs none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, models
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model
from django.db.models.options import Options
from django.utils import timezone


def lock_key(channel_id: int, name: str) -> int:
    """The lock of ``name`` (a conversation's external id, or a prefixed other key)."""
    digest = hashlib.blake2b(f"{channel_id}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock(keys: Iterable[int]) -> None:
    """Wait for every lock of ``keys`` (taken in sorted order, so lockers never deadlock)."""
    ordered = sorted(set(keys))
    if ordered and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", [ordered]
            )


def try_lock(keys: Iterable[int]) -> set[int]:
    """Take whichever locks of ``keys`` are free, without waiting; returns those taken."""
    wanted = sorted(set(keys))
    if not wanted or connection.vendor != "postgresql":
        return set(wanted)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT k FROM unnest(%s::bigint[]) AS k WHERE pg_try_advisory_xact_lock(k)", [wanted]
        )
        return {row[0] for row in cursor.fetchall()}


@contextmanager
def session_lock(key: int) -> Iterator[bool]:
    """Try the advisory lock ``key`` for this database session, not a transaction — so nothing
    stays open while a platform is called — and release it at the end (or when the process
    dies). Yields whether it was taken; elsewhere than PostgreSQL it always is."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        row = cursor.fetchone()
    taken = bool(row and row[0])
    try:
        yield taken
    finally:
        if taken:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def lock_conversation(channel_id: int, conversation_external_id: str) -> None:
    """Wait for one conversation's lock."""
    lock([lock_key(channel_id, conversation_external_id)])


# --- many rows in one statement -------------------------------------------------------------
#
# Django's bulk_create and bulk_update send one placeholder per value (bulk_update even a CASE
# WHEN per field and row): at batch sizes, composing and parsing those statements costs more than
# the writes. On PostgreSQL these pass one array per column and unnest them, so a statement has a
# placeholder per column whatever the number of rows. Values are prepared by the fields
# themselves (JSON, encryption, times), exactly as the ORM would.


def array_cursor() -> CursorWrapper:
    """A cursor for statements whose parameters are column arrays (``array_casts``).

    Django's cursors bind on the client: each array becomes an SQL literal composed in Python,
    several times slower than the binary form psycopg dumps in C (five times for text, eight
    for times). This one binds on the server, in binary, and is wrapped as Django wraps its own,
    so query logging, counting and execute wrappers see its statements.
    """
    if connection.vendor != "postgresql":
        return connection.cursor()
    import psycopg

    connection.ensure_connection()
    return connection._prepare_cursor(psycopg.Cursor(connection.connection))  # type: ignore[attr-defined]


def insert_rows(rows: Iterable[Model], *, ignore_conflicts: bool = False) -> None:
    """Insert new rows; sets their primary keys (unless ``ignore_conflicts``, where rows that
    meet a unique constraint are skipped and keys are not known)."""
    rows = list(rows)
    if not rows:
        return
    model = type(rows[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(rows, ignore_conflicts=ignore_conflicts)
        return
    meta = model._meta
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    now = timezone.now()
    columns = [
        [now] * len(rows)
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        else [getattr(row, f.attname) for row in rows]
        for f in fields
    ]
    keys = insert_values(model, fields, columns, ignore_conflicts=ignore_conflicts)
    for row, pk in zip(rows, keys, strict=not ignore_conflicts):
        row.pk = pk
        row._state.adding, row._state.db = False, connection.alias


def insert_values(
    model: type[Model],
    fields: Sequence[Field[Any, Any]],
    columns: Sequence[Sequence[Any]],
    *,
    ignore_conflicts: bool = False,
    returning: str | None = None,
) -> list[Any]:
    """Insert rows given column by column (PostgreSQL). Returns, per inserted row, its primary
    key (by default) or the column ``returning`` names; with ``ignore_conflicts`` rows that meet
    a unique constraint are skipped (and, by default, nothing is returned)."""
    if not columns or not columns[0]:
        return []
    if connection.vendor != "postgresql":
        return _insert_values_row_by_row(model, fields, columns, ignore_conflicts, returning)
    meta = model._meta
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({names})"  # noqa: S608
        f" SELECT * FROM unnest({array_casts(fields)})"
    )
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    returned = returning or (None if ignore_conflicts else meta.pk.column)
    if returned:
        sql += f" RETURNING {connection.ops.quote_name(returned)}"
    params = [prepare_column(f, values) for f, values in zip(fields, columns, strict=True)]
    with array_cursor() as cursor:
        cursor.execute(sql, params)
        return [value for (value,) in cursor.fetchall()] if returned else []


def _insert_values_row_by_row(
    model: type[Model],
    fields: Sequence[Field[Any, Any]],
    columns: Sequence[Sequence[Any]],
    ignore_conflicts: bool,
    returning: str | None,
) -> list[Any]:
    """``insert_values`` elsewhere (SQLite, for ``make run``): one statement per row."""
    quote = connection.ops.quote_name
    returned = returning or (None if ignore_conflicts else model._meta.pk.column)
    sql = (
        f"INSERT {'OR IGNORE ' if ignore_conflicts else ''}INTO {quote(model._meta.db_table)}"  # noqa: S608
        f" ({', '.join(quote(f.column) for f in fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))})"
        + (f" RETURNING {quote(returned)}" if returned else "")
    )
    prepared = [prepare_column(f, values) for f, values in zip(fields, columns, strict=True)]
    values: list[Any] = []
    with connection.cursor() as cursor:
        for row in zip(*prepared, strict=True):
            cursor.execute(sql, row)
            if returned:
                values += [value for (value,) in cursor.fetchall()]
    return values


def update_rows(rows: Iterable[Model], fields: Sequence[str]) -> None:
    """Save ``fields`` of many stored rows in one statement."""
    rows = list(rows)
    if not rows:
        return
    if connection.vendor != "postgresql":
        type(rows[0])._default_manager.bulk_update(rows, list(fields))
        return
    meta = rows[0]._meta
    columns = [_column(meta, meta.pk.name), *(_column(meta, name) for name in fields)]
    arrays = [prepare_column(f, [getattr(row, f.attname) for row in rows]) for f in columns]
    names = [connection.ops.quote_name(f.column) for f in columns]
    assignments = ", ".join(f"{name} = v.{name}" for name in names[1:])
    sql = (
        f"UPDATE {connection.ops.quote_name(meta.db_table)} AS t"  # noqa: S608 - model names
        f" SET {assignments} FROM unnest({array_casts(columns)}) AS v({', '.join(names)})"
        f" WHERE t.{names[0]} = v.{names[0]}"
    )
    with array_cursor() as cursor:
        cursor.execute(sql, arrays)


# Fields whose Python values PostgreSQL takes as they are: no per-value preparation needed.
_PLAIN = (
    models.AutoField,
    models.BigAutoField,
    models.BigIntegerField,
    models.BooleanField,
    models.CharField,
    models.DateTimeField,
    models.IntegerField,
    models.PositiveBigIntegerField,
    models.PositiveIntegerField,
    models.TextField,
)


def prepare_column(field: Field[Any, Any], values: Sequence[Any]) -> list[Any]:
    plain = type(field) in _PLAIN or (
        isinstance(field, models.ForeignKey) and type(field.target_field) in _PLAIN
    )
    if plain:
        return list(values)
    return [field.get_db_prep_save(value, connection) for value in values]


def array_casts(columns: Sequence[Field[Any, Any]]) -> str:
    """One binary placeholder per column, cast to its array type (for ``array_cursor``)."""
    return ", ".join(f"%b::{field.db_type(connection)}[]" for field in columns)


def _column(meta: Options[Any], name: str) -> Field[Any, Any]:
    field = meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise TypeError(f"{meta.label}.{name} is not a column")
    return field


def columns_of(model: type[Model], names: Iterable[str]) -> list[Field[Any, Any]]:
    """The fields (columns) of ``model`` called ``names``."""
    return [_column(model._meta, name) for name in names]


class AnyOf(models.Lookup):
    """``field__any=[…]``: like ``__in``, but on PostgreSQL the list travels as one array
    parameter (``= ANY(%s)``), so a statement about five hundred rows is not five hundred
    placeholders to compose and parse. Elsewhere it is ``IN``."""

    lookup_name = "any"
    prepare_rhs = False  # a list of plain values (ids, platform ids), taken as it is

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        if not values:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


Field.register_lookup(AnyOf)
models.ForeignObject.register_lookup(AnyOf)  # foreign keys keep lookups of their own

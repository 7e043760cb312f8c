"""Pagination for every API list: bounded page sizes, keyset cursors for the big lists.

A keyset page is found by comparing the sort key with the last row seen (``WHERE (a, b) <
(x, y)``), which an index in the list's order answers directly however deep the page: no OFFSET
and no COUNT.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import BooleanField, Expression, F, Model, Q, QuerySet, Value
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination, LimitOffsetPagination, _positive_int
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

MAX_PAGE_SIZE = 200


class RowComparison(Expression):
    """``(a, b, …) > (x, y, …)`` (or ``<``): the rows beyond a cursor, as one row comparison.

    PostgreSQL answers it with an index in the same column order as a range condition (and
    with one that only starts with ``a`` as a range on ``a``), so a page costs the same however
    deep it lies; the equivalent ``a > x OR (a = x AND b > y)`` is only a filter there, which
    walks every row before the page. SQLite understands row values too.
    """

    output_field = BooleanField()
    conditional = True

    def __init__(self, fields: Sequence[str], values: Sequence[Any], *, greater: bool) -> None:
        super().__init__()
        self.columns: list[Any] = [F(name) for name in fields]
        self.values: list[Any] = [Value(value) for value in values]
        self.operator = ">" if greater else "<"

    def get_source_expressions(self) -> list[Any]:
        return [*self.columns, *self.values]

    def set_source_expressions(self, expressions: Sequence[Any]) -> None:
        split = len(self.columns)
        self.columns, self.values = list(expressions[:split]), list(expressions[split:])

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sides, params = [], []
        for side in (self.columns, self.values):
            compiled = [compiler.compile(expression) for expression in side]
            sides.append(", ".join(sql for sql, _ in compiled))
            params += [param for _, side_params in compiled for param in side_params]
        return f"({sides[0]}) {self.operator} ({sides[1]})", params


class PagePagination(LimitOffsetPagination):
    """``limit``/``offset`` for the small lists, with ``limit`` capped at MAX_PAGE_SIZE."""

    max_limit = MAX_PAGE_SIZE


class KeysetPages(BasePagination):
    """The ``pagination_class`` of the keyset lists: they paginate with
    :class:`KeysetPagination` themselves; this tells DRF's browsable API where the rows of a
    page are (so that it shows the filter form), and the schema is declared by
    :func:`keyset_list`."""

    def get_results(self, data: dict[str, Any]) -> Any:
        return data["results"]


@dataclass(frozen=True)
class Key:
    """One column of a keyset order. ``field`` must never be null (use an annotation)."""

    field: str
    descending: bool = False
    kind: type = int  # how the cursor stores it: int, str or datetime


class KeysetPagination:
    """Pages of a list ordered by ``keys`` (unique together; the last is the primary key).

    Query parameters: ``page_size`` (≤ MAX_PAGE_SIZE), ``after`` / ``before`` (cursors from a
    previous page's ``next`` / ``previous``), and ``start=end`` for the last page. Pages always
    list rows in the list's order; ``next`` and ``previous`` are null where nothing lies beyond.
    """

    page_size = 50

    def __init__(self, keys: Sequence[Key]) -> None:
        self.keys = tuple(keys)

    def paginate(
        self, queryset: QuerySet[Any], request: Request
    ) -> tuple[list[Any], dict[str, Any]]:
        size = self._page_size(request)
        if request.query_params.get("after") and request.query_params.get("before"):
            raise ValidationError({"before": "give either 'after' or 'before', not both"})
        after = self._cursor(request, "after")
        before = self._cursor(request, "before")
        backwards = before is not None or request.query_params.get("start") == "end"
        if request.query_params.get("start") not in (None, "", "end"):
            raise ValidationError({"start": "the only value is 'end'"})
        ordered = queryset.order_by(*self._ordering(reverse=backwards))
        if after is not None:
            ordered = ordered.filter(self._beyond(after, reverse=False))
        if before is not None:
            ordered = ordered.filter(self._beyond(before, reverse=True))
        rows = list(ordered[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
            first, last = (rows[0] if more else None), (rows[-1] if before is not None else None)
        else:
            first, last = (rows[0] if after is not None else None), (rows[-1] if more else None)
        links = {
            "next": self._link(request, "after", last) if rows and last else None,
            "previous": self._link(request, "before", first) if rows and first else None,
        }
        return rows, links

    def response(self, request: Request, data: Any, links: dict[str, Any]) -> Response:
        return Response({**links, "results": data})

    # --- helpers ---------------------------------------------------------------------------

    def _page_size(self, request: Request) -> int:
        raw = request.query_params.get("page_size")
        if not raw:
            return self.page_size
        try:
            return _positive_int(raw, strict=True, cutoff=MAX_PAGE_SIZE)
        except ValueError:
            raise ValidationError({"page_size": "a positive whole number"}) from None

    def _ordering(self, *, reverse: bool) -> list[str]:
        return [("-" if key.descending != reverse else "") + key.field for key in self.keys]

    def _beyond(self, values: Sequence[Any], *, reverse: bool) -> Q:
        """Rows after ``values`` in the list's order (before them when ``reverse``)."""
        directions = {key.descending for key in self.keys}
        if len(directions) == 1:
            greater = directions.pop() == reverse
            return Q(RowComparison([key.field for key in self.keys], values, greater=greater))
        condition = Q()
        # Built from the last key outwards: (a > x) OR (a = x AND (b > y OR (b = y AND …))).
        for key, value in reversed(list(zip(self.keys, values, strict=True))):
            lookup = "lt" if key.descending != reverse else "gt"
            strictly = Q(**{f"{key.field}__{lookup}": value})
            condition = (
                strictly if not condition else strictly | (Q(**{key.field: value}) & condition)
            )
        return condition

    def _cursor(self, request: Request, name: str) -> list[Any] | None:
        raw = request.query_params.get(name)
        if not raw:
            return None
        try:
            values = json.loads(base64.urlsafe_b64decode(raw.encode() + b"==="))
            if not isinstance(values, list) or len(values) != len(self.keys):
                raise ValueError(name)
            return [self._decode(key, value) for key, value in zip(self.keys, values, strict=True)]
        except (ValueError, TypeError):
            raise ValidationError({name: "not a cursor of this list"}) from None

    @staticmethod
    def _decode(key: Key, value: Any) -> Any:
        if key.kind is datetime:
            return datetime.fromisoformat(value)
        if not isinstance(value, key.kind) or isinstance(value, bool):
            raise TypeError(value)
        return value

    def _encode(self, row: Model) -> str:
        values = []
        for key in self.keys:
            value = getattr(row, key.field)
            values.append(value.isoformat() if isinstance(value, datetime) else value)
        raw = json.dumps(values, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _link(self, request: Request, name: str, row: Model) -> str:
        url = request.build_absolute_uri()
        for other in ("after", "before", "start"):
            url = remove_query_param(url, other)
        return replace_query_param(url, name, self._encode(row))


# --- the schema of keyset lists ----------------------------------------------------------------

KEYSET_PARAMETERS = [
    OpenApiParameter(
        "page_size", int, description=f"Rows per page (default 50, at most {MAX_PAGE_SIZE})."
    ),
    OpenApiParameter("after", str, description="The cursor of a page's `next` link."),
    OpenApiParameter("before", str, description="The cursor of a page's `previous` link."),
    OpenApiParameter("start", str, enum=["end"], description="`end`: the last page."),
]


def keyset_page(item: type[serializers.BaseSerializer[Any]]) -> type[serializers.Serializer[Any]]:
    """The schema of one keyset page of ``item`` rows (what :meth:`KeysetPagination.response`
    answers), one component per row type."""
    name = item.__name__.removesuffix("Serializer")
    page = type(
        f"{name}PageSerializer",
        (serializers.Serializer,),
        {
            "next": serializers.URLField(allow_null=True, help_text="The page after; null: none."),
            "previous": serializers.URLField(
                allow_null=True, help_text="The page before; null: none."
            ),
            "results": item(many=True),
            "__doc__": f"A page of {name} rows.",
        },
    )
    return extend_schema_serializer(many=False, component_name=f"{name}Page")(page)


def keyset_list(item: type[serializers.BaseSerializer[Any]], **more: Any) -> Any:
    """``extend_schema`` for a view answering keyset pages of ``item``."""
    parameters = [*KEYSET_PARAMETERS, *more.pop("parameters", [])]
    return extend_schema(parameters=parameters, responses=keyset_page(item), **more)

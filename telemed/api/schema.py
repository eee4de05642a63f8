"""Shapes every app's API shares in the OpenAPI schema: the error body and a page of results."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView


class ErrorSerializer(serializers.Serializer):
    """Every error of the API: `{"detail", "code"}` (400s add `fields`)."""

    class Meta:
        ref_name = "Error"

    detail = serializers.CharField()
    code = serializers.CharField()

    def get_fields(self):
        # `fields` is also the name of Serializer's own property: added here, not declared.
        fields = super().get_fields()
        fields["fields"] = serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="Only with code `invalid`: the messages of each field.",
        )
        return fields


def error_response(description: str) -> OpenApiResponse:
    """An error answer in the schema, described by its codes."""
    return OpenApiResponse(ErrorSerializer, description=description)


def page_of(name: str, item: type[serializers.Serializer]) -> serializers.Serializer:
    """The OpenAPI shape of a page of `item` (telemed.api.pagination.DefaultPagination)."""
    return inline_serializer(
        name,
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


def paginated(request: Request, view: APIView, items: Iterable[Any], serialize: Callable[[list], Any]) -> Response:
    """One page of `items` in the project's pagination, each serialized by `serialize`."""
    paginator = api_settings.DEFAULT_PAGINATION_CLASS()
    page = paginator.paginate_queryset(items, request, view=view)
    return paginator.get_paginated_response(serialize(page))

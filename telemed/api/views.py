from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class PingApi(APIView):
    """Who am I, as the API sees me: proves authentication end to end."""

    @extend_schema(
        responses=inline_serializer(
            "Ping", fields={"user_id": serializers.IntegerField(), "role": serializers.CharField()}
        )
    )
    def get(self, request: Request) -> Response:
        return Response({"user_id": request.user.pk, "role": request.user.role})

"""Bench-only URLconf: the whole API plus ``POST /bench/baseline/``, the throughput baseline.

The baseline is the cheapest authenticated DRF endpoint that writes one row: the same
authentication (token), permission, throttle, parser and renderer as every API write, then one
``INSERT`` in a transaction, answering 201. ``bench/throughput.py`` compares the real hot paths
with it. The table ``bench_baseline`` is made by the benchmark, not by a migration: it exists only
in benchmark databases.
"""

from django.db import connection, transaction
from django.urls import path
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from cc_rules.urls import handler400, handler403, handler404, handler500  # noqa: F401
from cc_rules.urls import urlpatterns as api_urlpatterns

TABLE = "bench_baseline"
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id bigserial PRIMARY KEY,
    user_id integer NOT NULL,
    note varchar(64) NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
)
"""


class BaselineIn(serializers.Serializer):
    note = serializers.CharField(max_length=64)


class BaselineView(APIView):
    def post(self, request):
        data = BaselineIn(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (user_id, note) VALUES (%s, %s) RETURNING id",
                [request.user.pk, data.validated_data["note"]],
            )
            row_id = cursor.fetchone()[0]
        return Response({"id": row_id}, status=status.HTTP_201_CREATED)


urlpatterns = [path("bench/baseline/", BaselineView.as_view()), *api_urlpatterns]

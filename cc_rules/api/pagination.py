"""Cursor pagination: stable under concurrent inserts, constant cost for deep pages."""

from rest_framework.pagination import CursorPagination


class CursorPage(CursorPagination):
    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000

"""Issue 16, item 7: Swagger UI and Redoc come from the project (drf-spectacular-sidecar), not a
CDN: every script, stylesheet and icon the docs pages name is one of our static files.
(tests/browser/test_production_serving.py also loads them in Chromium with DEBUG off.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


class Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


@pytest.mark.parametrize(
    ("url", "bundle"),
    [
        ("/api/docs/", "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"),
        ("/api/redoc/", "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"),
    ],
)
def test_the_api_docs_pages_load_only_our_own_static_files(client, url, bundle):
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    parser = Assets()
    parser.feed(html)
    static = "/" + settings.STATIC_URL.strip("/") + "/"
    assert static + bundle in parser.urls
    for asset in parser.urls:
        assert asset.startswith(static), f"{url} loads {asset} from elsewhere"
        assert finders.find(asset.removeprefix(static)), f"{asset} is not in our static files"
    # Nor does any inline script fetch from another host (the schema is ours too).
    assert not re.search(r"""["'(]\s*(https?:)?//""", html), "an absolute URL in the page"

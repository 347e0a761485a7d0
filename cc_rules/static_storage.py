"""The static files storage used when DEBUG is off (settings.STORAGES, served by WhiteNoise)."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's hashed and compressed files, without rewriting JavaScript source maps.

    Vendored bundles (Chart.js) end with ``//# sourceMappingURL=…map`` but ship no map, and
    Django's manifest storage fails ``collectstatic`` on a reference it cannot find. CSS
    references (``url(…)``, ``@import``) are still rewritten to the hashed names.
    """

    patterns = tuple(
        (glob, rules) for glob, rules in CompressedManifestStaticFilesStorage.patterns
        if glob != "*.js"
    )  # fmt: skip

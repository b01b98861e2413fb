"""The interactive reference at ``/docs``, served without the internet.

Swagger UI's files come from the ``swagger-ui-bundle-v2`` package (a Python wheel that vendors the
swagger-ui-dist release), so a service on an isolated network, or a developer on a train, still gets
a working page. Litestar's defaults would load them, and a favicon, from a CDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import swagger_ui_bundle
from litestar import Litestar, Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.file_system import BaseLocalFileSystem
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.types import PathType
from litestar.types.file_types import FileInfo

DOCS_PATH = "/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
ASSETS_DIR = Path(swagger_ui_bundle.swagger_ui_path)


class _Finished:
    """Serve the finished document (what is committed), not Litestar's raw rendering."""

    _finished: tuple[int, dict[str, Any]] | None = None

    def finished(self, rendered: dict[str, Any]) -> dict[str, Any]:
        from api.openapi_document import finish_document

        # Litestar renders the schema once and hands the same dict to every request.
        if self._finished is None or self._finished[0] != id(rendered):
            self._finished = (id(rendered), finish_document(rendered))
        return self._finished[1]


class FinishedSwagger(_Finished, SwaggerRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.finished(openapi_schema))


class FinishedJson(_Finished, JsonRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.finished(openapi_schema))


def json_plugin() -> JsonRenderPlugin:
    return FinishedJson(path="/openapi.json")


def swagger_plugin() -> SwaggerRenderPlugin:
    return FinishedSwagger(
        path="/",
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


class _AssetFiles(BaseLocalFileSystem):
    """The bundle's files. A path no file can have (``/docs/assets/x%00y``: the OS refuses a NUL byte
    with ``ValueError``) is simply not there: a 404 like any other missing asset, not a 500."""

    async def info(self, path: PathType, **kwargs: Any) -> FileInfo:
        try:
            return await super().info(path, **kwargs)
        except ValueError:
            raise FileNotFoundError(str(path)) from None


def assets_router() -> Router:
    # They change only with the package version, so browsers may keep them for a day.
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[ASSETS_DIR],
        file_system=_AssetFiles(),
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=86_400, public=True),
        name="docs-assets",
    )


def _no_such_docs_page(path: str = "/") -> None:
    # Same parameters as the handler it replaces: Litestar keeps the signature it parsed from that one.
    raise NotFoundException(f"No page at /docs{path}.")


def problem_404s_under_docs(app: Litestar) -> None:
    """Make unknown paths under ``/docs`` answer problem+json like every other 404.

    Litestar registers a catch-all ``/docs/{path}`` handler that answers an HTML page; rebinding its
    function to raise ``NotFoundException`` hands the error to the one problem+json mapping instead.
    """
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if getattr(handler.fn, "__name__", "") == "handle_schema_path_not_found":
                handler(_no_such_docs_page)

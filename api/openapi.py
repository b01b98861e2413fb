"""The OpenAPI contract: configuration, error responses on every operation, and the committed file.

Error responses are derived here from what each handler can actually raise (a body → 400/413/422,
an API key → 401, a role guard → 403, declared domain errors → 404/409/412…), in one place, so that
the spec cannot forget a status a route answers with.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import (
    Components,
    Example,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
    SecurityScheme,
    Tag,
)

from api import __version__
from api.docs import json_plugin, swagger_plugin
from api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX, PROBLEM_TYPES, Problem

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.handlers import HTTPRouteHandler

# `helpdesk openapi` writes here, relative to the current directory: from a checkout's root that is
# the committed contract; from anywhere else (an installed wheel) it is a file the user can find.
DEFAULT_SPEC_FILE = Path("openapi") / "openapi.json"
# The committed contract in a checkout, which the tests compare with the app.
SPEC_PATH = Path(__file__).resolve().parent.parent / DEFAULT_SPEC_FILE
SECURITY_SCHEME = "apiKey"
PROBLEMS_OPT = "problems"
EXAMPLES_OPT = "response_examples"
NOT_MODIFIED_OPT = "not_modified"
LOCATION_OPT = "location"
STALE_ETAG_OPT = "stale_etag"
TRANSITIONS_OPT = "lifecycle_conflicts"
PROBLEM_NOTES_OPT = "problem_notes"

TAGS = [
    Tag(name="Tickets", description="Tickets, their comments and their history: what agents work on."),
    Tag(name="Customers", description="The people who ask for help (ticket requesters)."),
    Tag(name="Agents", description="The people who help; agents can hold API keys that act as them."),
    Tag(name="Groups", description="Teams of agents that tickets are routed to."),
    Tag(name="Events", description="The change feed: every ticket event, in commit order, with a cursor."),
    Tag(name="Webhooks", description="Endpoints that receive signed events, and the log of every delivery."),
    Tag(
        name="SLA policies",
        description="Response and resolution targets per priority, the tickets they apply to, versions.",
    ),
    Tag(
        name="Rules",
        description="Escalation and automation rules: conditions and ordered actions, run when tickets "
        "change or when time passes; every edit a version; previews and explanations.",
    ),
    Tag(
        name="Business calendars",
        description="Opening hours, time zone and holidays that business-time SLA targets count, "
        "with what-if due/elapsed computations.",
    ),
    Tag(name="API keys", description="Keys for people and integrations; a token is shown only once."),
    Tag(name="Operations", description="Health, readiness and Prometheus metrics for operators."),
]

DESCRIPTION = """\
Helpdesk ticketing API: tickets, SLA policies, escalation rules and signed, durable webhooks.

Authenticate with an API key: `Authorization: Bearer hdk_…`. Errors are RFC 9457
`application/problem+json`; branch on `type`, show `detail`, and read `errors` for field problems.
"""


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Helpdesk API",
        version=__version__,
        description=DESCRIPTION,
        path="/docs",
        render_plugins=[swagger_plugin(), json_plugin()],
        tags=TAGS,
        use_handler_docstrings=True,
        security=[{SECURITY_SCHEME: []}],
        components=Components(
            security_schemes={
                SECURITY_SCHEME: SecurityScheme(
                    type="http", scheme="bearer", description="An API key created with `createApiKey`."
                )
            }
        ),
    )


def problems(*statuses: int) -> dict[str, tuple[int, ...]]:
    """Handler ``opt`` declaring the domain errors a route raises beyond those derived automatically."""
    return {PROBLEMS_OPT: statuses}


def problem_notes(notes: dict[int, str]) -> dict[str, dict[int, str]]:
    """Handler ``opt`` saying when a route answers a problem status (``{403: "…"}``): the description of
    that response in the spec."""
    return {PROBLEM_NOTES_OPT: notes}


def response_examples(status: int, examples: dict[str, Example]) -> dict[str, dict[int, dict[str, Example]]]:
    """Handler ``opt`` adding examples to the success response (keeping its schema and headers)."""
    return {EXAMPLES_OPT: {status: examples}}


def not_modified() -> dict[str, bool]:
    """Handler ``opt``: the route answers ``If-None-Match`` with 304 (documented with its ``ETag``)."""
    return {NOT_MODIFIED_OPT: True}


def created_at_location() -> dict[str, bool]:
    """Handler ``opt``: the 201 response carries ``Location`` (the created resource's URL)."""
    return {LOCATION_OPT: True}


def lifecycle_conflicts() -> dict[str, bool]:
    """Handler ``opt``: the route changes ticket status, so its 409 may be a lifecycle refusal."""
    return {TRANSITIONS_OPT: True}


def stale_etag() -> dict[str, bool]:
    """Handler ``opt``: a 412 carries the resource's current ``ETag``."""
    return {STALE_ETAG_OPT: True}


def _header(name: str) -> Reference:
    return Reference(ref=f"#/components/headers/{name}")


def _add_headers(responses: dict[str, Any], handler: HTTPRouteHandler) -> None:
    created = responses.get("201")
    if handler.opt.get(LOCATION_OPT) and isinstance(created, OpenAPIResponse):
        created.headers = {**(created.headers or {}), "Location": _header("Location")}
    stale = responses.get("412")
    if handler.opt.get(STALE_ETAG_OPT) and isinstance(stale, OpenAPIResponse):
        stale.headers = {**(stale.headers or {}), "ETag": _header("ETag")}
    if handler.opt.get(NOT_MODIFIED_OPT):
        responses["304"] = OpenAPIResponse(
            description="Not modified: the `If-None-Match` ETag is still current; no body.",
            headers={"ETag": _header("ETag")},
        )


def _add_examples(responses: dict[str, Any], handler: HTTPRouteHandler) -> None:
    for status, examples in handler.opt.get(EXAMPLES_OPT, {}).items():
        response = responses.get(str(status))
        if isinstance(response, OpenAPIResponse) and response.content:
            for media in response.content.values():
                media.examples = dict(examples)


def _problem_response(status: int) -> OpenAPIResponse:
    slug, title = PROBLEM_TYPES[status]
    example = {
        "type": PROBLEM_TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": HTTPStatus(status).description,
        "request_id": "5f0c6c1e9a1b4f0e8a3b2c1d0e9f8a7b",
    }
    if status == 422:
        example["detail"] = "The request has invalid fields; see errors."
        example["errors"] = [{"location": "body", "path": "$.name", "message": "Expected `str`, got `int`"}]
    headers: dict[str, OpenAPIHeader | Reference] | None = None
    if status == 503:
        example["detail"] = "database unreachable (restarting or down); try again shortly."
        headers = {
            "Retry-After": OpenAPIHeader(
                schema=Schema(type=OpenAPIType.INTEGER, minimum=0),
                required=True,
                description="Seconds to wait before retrying.",
            )
        }
    if status == 401:
        headers = {"WWW-Authenticate": _header("WWW-Authenticate")}
    return OpenAPIResponse(
        description=f"{title} (`{PROBLEM_TYPE_PREFIX}{slug}`)",
        headers=headers,
        content={
            PROBLEM_MEDIA_TYPE: OpenAPIMediaType(
                schema=Reference(ref="#/components/schemas/Problem"), example=example
            )
        },
    )


def _transition_conflict_response() -> OpenAPIResponse:
    """The 409 of a route that changes a ticket's status: a lifecycle refusal names its ``rule``."""
    response = _problem_response(409)
    response.description = (
        "Conflict: a lifecycle rule refused the change (`urn:helpdesk:problem:invalid-transition`, with "
        "`rule`), or another conflict such as a request with the same `Idempotency-Key` still in "
        "progress (`urn:helpdesk:problem:conflict`)."
    )
    media = next(iter((response.content or {}).values()))
    refused = {
        "type": PROBLEM_TYPE_PREFIX + "invalid-transition",
        "title": "Invalid status transition",
        "status": 409,
        "detail": "A ticket never goes back to new.",
        "rule": "never-back-to-new",
        "request_id": "5f0c6c1e9a1b4f0e8a3b2c1d0e9f8a7b",
    }
    media.examples = {
        "invalid-transition": Example(summary="A lifecycle rule refused the change", value=refused),
        "conflict": Example(summary="Another conflict", value=media.example),
    }
    media.example = None
    return response


def _derived_statuses(handler: HTTPRouteHandler, public: bool) -> set[int]:
    from api.auth.guards import ROLES

    # 422 everywhere: every operation refuses unknown or repeated query parameters (api/strict_input.py).
    statuses = {422, 500}
    params = handler.parsed_fn_signature.parameters
    if not public or {"tx", "state", "request"} & set(params):
        statuses.add(503)  # the database is away or out of connections (authentication reads it too)
    if "data" in params:
        statuses |= {400, 413, 415}
    if not public:
        statuses.add(401)
        roles = handler.opt.get(ROLES)
        if roles is not None and set(roles) != {"admin", "agent"}:
            statuses.add(403)
    return statuses


def _default_problem_response() -> OpenAPIResponse:
    return OpenAPIResponse(
        description="Any other error, as an RFC 9457 problem: branch on `type`.",
        content={PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))},
    )


def finalize_schema(app: Litestar) -> None:
    """Complete every operation: summary from the docstring, security, and all problem responses."""
    from api.auth.guards import PUBLIC, ROLES

    schema = app.openapi_schema
    handlers: dict[str, HTTPRouteHandler] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.include_in_schema and isinstance(handler.operation_id, str):
                handlers[handler.operation_id] = handler

    for path_item in (schema.paths or {}).values():
        for method in ("get", "put", "post", "patch", "delete"):
            operation = getattr(path_item, method)
            if operation is None:
                continue
            handler = handlers.get(operation.operation_id or "")
            if handler is None:
                raise RuntimeError(f"operation {operation.operation_id!r} needs an explicit operation_id")
            if operation.description:
                summary, _, rest = operation.description.strip().partition("\n")
                operation.summary = summary.strip()
                operation.description = rest.strip() or None
            public = bool(handler.opt.get(PUBLIC))
            if public:
                operation.security = []
            if handler.opt.get(ROLES) == ("admin",):
                note = "**Admin only**: needs an API key with the `admin` role."
                operation.description = (
                    f"{note}\n\n{operation.description}" if operation.description else note
                )
            responses = operation.responses or {}
            # Litestar documents its own validation error shape; ours replaces it.
            responses.pop("400", None)
            for status in sorted(_derived_statuses(handler, public) | set(handler.opt.get(PROBLEMS_OPT, ()))):
                responses[str(status)] = _problem_response(status)
            if handler.opt.get(TRANSITIONS_OPT) and "409" in responses:
                responses["409"] = _transition_conflict_response()
            for status, note in handler.opt.get(PROBLEM_NOTES_OPT, {}).items():
                responses[str(status)] = _problem_response(status)
                responses[str(status)].description = note
            responses["default"] = _default_problem_response()
            _bound_path_ids(operation.parameters or ())
            _state_item_constraints(operation.parameters or (), handler)
            _add_headers(responses, handler)
            _add_examples(responses, handler)
            operation.responses = responses

    _keep_example_nulls(schema.paths or {})
    _, components = msgspec.json.schema_components((Problem,), ref_template="#/components/schemas/{name}")
    schema.components.schemas = {**(schema.components.schemas or {}), **components}
    _forbid_unknown_fields(schema.components.schemas)


INT64_MAX = 2**63 - 1


def _bound_path_ids(parameters: Any) -> None:
    """Integer ids in paths are the tables' positive 64-bit keys; api/strict_input.py refuses other
    values with these very bounds (it reads them from here)."""
    for parameter in parameters:
        schema = getattr(parameter, "schema", None)
        in_path = getattr(parameter, "param_in", None) == "path"
        if in_path and isinstance(schema, Schema) and schema.type == OpenAPIType.INTEGER:
            schema.format = "int64"  # type: ignore[assignment]  # not in Litestar's OpenAPIFormat
            schema.minimum, schema.maximum = 1, INT64_MAX


_ITEM_CONSTRAINTS = {"minLength": "min_length", "maxLength": "max_length", "pattern": "pattern"}


def _state_item_constraints(parameters: Any, handler: HTTPRouteHandler) -> None:
    """Litestar leaves out what a list parameter's items must be (``tag=`` is a non-empty tag): taken
    from msgspec's schema of the handler's annotation, which is what the decoder checks."""
    from litestar.params import ParameterKwarg

    by_name: dict[str, Any] = {}
    for name, field in handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        by_name[(kwarg.query if isinstance(kwarg, ParameterKwarg) else None) or name] = field.annotation
    for parameter in parameters:
        schema = getattr(parameter, "schema", None)
        annotation = by_name.get(getattr(parameter, "name", ""))
        if getattr(parameter, "param_in", None) != "query" or annotation is None or schema is None:
            continue
        items = next((s.items for s in [schema, *(schema.one_of or ())] if isinstance(s.items, Schema)), None)
        stated = _msgspec_items(annotation)
        if items is None or stated is None:
            continue
        for key, attribute in _ITEM_CONSTRAINTS.items():
            if key in stated and getattr(items, attribute) is None:
                setattr(items, attribute, stated[key])


def _msgspec_items(annotation: Any) -> dict[str, Any] | None:
    try:
        schema = msgspec.json.schema(annotation)
    except (TypeError, ValueError):
        return None
    for branch in [schema, *schema.get("anyOf", ())]:
        if isinstance(branch.get("items"), dict):
            return dict(branch["items"])
    return None


class Verbatim:
    """An example value that Litestar's rendering must not touch: it drops ``None`` from dicts, so an
    example of a nullable field would lose it and no longer match its schema. ``finish_document``
    puts the value back."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _keep_example_nulls(paths: dict[str, Any]) -> None:
    for path_item in paths.values():
        for method in ("get", "put", "post", "patch", "delete"):
            operation = getattr(path_item, method)
            if operation is None:
                continue
            bodies = [operation.request_body, *(operation.responses or {}).values()]
            for body in bodies:
                for media in (getattr(body, "content", None) or {}).values():
                    for example in (media.examples or {}).values():
                        if isinstance(example, Example) and not isinstance(example.value, Verbatim):
                            example.value = Verbatim(example.value)


def _struct_classes(root: type[msgspec.Struct] = msgspec.Struct) -> dict[str, type[msgspec.Struct]]:
    found: dict[str, type[msgspec.Struct]] = {}
    for cls in root.__subclasses__():
        if cls.__module__.startswith("api."):
            found[cls.__name__] = cls
        found.update(_struct_classes(cls))
    return found


def _forbid_unknown_fields(schemas: dict[str, Any]) -> None:
    """Say ``additionalProperties: false`` where the server refuses unknown fields, so the spec does
    not promise that extra properties are accepted (Litestar's schemas leave this out)."""
    structs = _struct_classes()
    for name, component in schemas.items():
        cls = structs.get(name)
        if (
            cls is not None
            and cls.__struct_config__.forbid_unknown_fields
            and not isinstance(component, dict)
        ):
            component.additional_properties = False


def render_spec(app: Litestar) -> str:
    """The spec as committed: sorted keys and fixed indentation, so it is identical across runs."""
    from api.openapi_document import finish_document

    document = finish_document(app.openapi_schema.to_schema())
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

"""HTTP routes for webhooks (admin only): endpoints, event types, deliveries and attempts."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from api.auth.guards import ADMIN_ONLY
from api.auth.schemas import Principal
from api.consistency import Reads
from api.db import Transaction, utcnow
from api.idempotency import IdempotencyKeyHeader, run_once
from api.openapi import created_at_location, problems
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from api.settings import Settings
from api.webhooks import deliveries, service
from api.webhooks.schemas import (
    AttemptRead,
    DeliveryRead,
    DeliveryStatus,
    EndpointCreate,
    EndpointCreated,
    EndpointHealth,
    EndpointRead,
    EndpointSecret,
    EndpointUpdate,
    EventTypeRead,
    RecoverRequest,
    RecoverResult,
)
from api.webhooks.ssrf import SsrfPolicy, parse_cidrs

Req = Request[Principal, Any, Any]


def _policy(state: State) -> SsrfPolicy:
    settings: Settings = state.settings
    return SsrfPolicy(parse_cidrs(settings.webhook_allow_cidrs), settings.webhook_allow_http)


EndpointFilter = Annotated[uuid.UUID | None, QueryParameter(description="Only this endpoint's deliveries.")]
MessageFilter = Annotated[
    str | None, QueryParameter(description="Only deliveries of this event (its `webhook-id`).")
]
StatusFilter = Annotated[DeliveryStatus | None, QueryParameter(description="Only deliveries in this status.")]
TypeFilter = Annotated[str | None, QueryParameter(description="Only deliveries of this event type.")]


class WebhookEndpointController(Controller):
    path = "/v1/webhooks"
    tags = ["Webhooks"]
    opt = ADMIN_ONLY

    @get("/event-types", operation_id="listWebhookEventTypes")
    async def list_event_types(self) -> Page[EventTypeRead]:
        """List the webhook event types, each with a JSON Schema of its `data`.

        A page like every other list (`data`, and `next_cursor`, always null: the catalog fits on one).
        The same types are described in the spec's `webhooks` section, with their signature headers.
        """
        return Page(data=service.list_event_types(), next_cursor=None)

    @post("/endpoints", operation_id="createWebhookEndpoint", opt=created_at_location())
    async def create_endpoint(
        self,
        request: Req,
        tx: Transaction,
        state: State,
        data: JSONBody[EndpointCreate],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[EndpointCreated]:
        """Register a webhook endpoint.

        The signing secret (`whsec_…`) is in this response only. The URL must be https and reach a public
        address unless the operator allowed otherwise.

        Deliveries follow Standard Webhooks: a JSON body `{"type", "timestamp", "data"}` and the headers
        `webhook-id`, `webhook-timestamp` and `webhook-signature`; verify them with any Standard Webhooks
        library. Delivery is **at least once**: a retry, a redelivery or a worker crash can deliver the
        same event again, always with the same `webhook-id` and byte-identical body — deduplicate on
        `webhook-id`. Answer 2xx quickly; anything else (including redirects, which are not followed) is
        retried with backoff for about three days, `Retry-After` is honoured, and `410 Gone` disables
        the endpoint.
        """
        # A replay returns the same secret: it is stored for signing anyway, unlike API key tokens.
        return await run_once(
            tx,
            request,
            idempotency_key,
            data,
            lambda: service.create_endpoint(tx, data, _policy(state)),
            location=lambda endpoint: f"/v1/webhooks/endpoints/{endpoint.id}",
        )

    @get("/endpoints", operation_id="listWebhookEndpoints")
    async def list_endpoints(
        self, reads: Reads, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> Page[EndpointRead]:
        """List webhook endpoints, oldest first.

        Never includes signing secrets. Paginate with `cursor`.
        """
        return await service.list_endpoints(reads, limit=limit, cursor=cursor)

    @get("/endpoints/{endpoint_id:uuid}", operation_id="getWebhookEndpoint", opt=problems(404))
    async def get_endpoint(self, tx: Transaction, endpoint_id: FromPath[uuid.UUID]) -> EndpointRead:
        """Get a webhook endpoint.

        Never includes the signing secret (it is shown only at creation and on rotation).
        """
        return await service.get_endpoint(tx, endpoint_id)

    @patch("/endpoints/{endpoint_id:uuid}", operation_id="updateWebhookEndpoint", opt=problems(404))
    async def update_endpoint(
        self, tx: Transaction, state: State, endpoint_id: FromPath[uuid.UUID], data: JSONBody[EndpointUpdate]
    ) -> EndpointRead:
        """Change a webhook endpoint; omitted fields keep their value.

        A new URL is checked like at registration (https, public address unless the operator allowed
        otherwise).
        """
        return await service.update_endpoint(tx, endpoint_id, data, _policy(state))

    @delete("/endpoints/{endpoint_id:uuid}", operation_id="deleteWebhookEndpoint", opt=problems(404))
    async def delete_endpoint(self, tx: Transaction, endpoint_id: FromPath[uuid.UUID]) -> None:
        """Delete a webhook endpoint, its pending deliveries and its attempt logs.

        Its delivery history goes with it; to keep the history, disable the endpoint instead.
        """
        await service.delete_endpoint(tx, endpoint_id)

    @post(
        "/endpoints/{endpoint_id:uuid}/rotate-secret",
        status_code=200,
        operation_id="rotateWebhookSecret",
        opt=problems(404),
    )
    async def rotate_secret(
        self,
        request: Req,
        tx: Transaction,
        endpoint_id: FromPath[uuid.UUID],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[EndpointSecret]:
        """Rotate the signing secret.

        The new secret is in this response only. For 24 hours every delivery is signed with both the
        new and the previous secret (two `v1,` signatures), so receivers can switch without failures.
        """
        return await run_once(
            tx, request, idempotency_key, None, lambda: service.rotate_secret(tx, endpoint_id)
        )

    @post(
        "/endpoints/{endpoint_id:uuid}/test",
        status_code=202,
        operation_id="sendWebhookTest",
        opt=problems(404, 409),
    )
    async def send_test(
        self,
        request: Req,
        tx: Transaction,
        endpoint_id: FromPath[uuid.UUID],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[DeliveryRead]:
        """Send a signed `webhook.test` event to the endpoint.

        Delivered like any event (signed, retried), to check that a receiver verifies signatures.
        """
        return await run_once(tx, request, idempotency_key, None, lambda: service.send_test(tx, endpoint_id))

    @post(
        "/endpoints/{endpoint_id:uuid}/enable",
        status_code=200,
        operation_id="enableWebhookEndpoint",
        opt=problems(404),
    )
    async def enable_endpoint(
        self,
        request: Req,
        tx: Transaction,
        endpoint_id: FromPath[uuid.UUID],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[EndpointRead]:
        """Enable an endpoint; deliveries held while it was disabled resume.

        Also clears an automatic disable (after `410 Gone` or days of failures).
        """
        return await run_once(
            tx, request, idempotency_key, None, lambda: service.set_enabled(tx, endpoint_id, True)
        )

    @post(
        "/endpoints/{endpoint_id:uuid}/disable",
        status_code=200,
        operation_id="disableWebhookEndpoint",
        opt=problems(404),
    )
    async def disable_endpoint(
        self,
        request: Req,
        tx: Transaction,
        endpoint_id: FromPath[uuid.UUID],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[EndpointRead]:
        """Disable an endpoint; new deliveries are not created and pending ones are held.

        Use it while a receiver is down for maintenance; `enableWebhookEndpoint` resumes delivery.
        """
        return await run_once(
            tx, request, idempotency_key, None, lambda: service.set_enabled(tx, endpoint_id, False)
        )

    @post(
        "/endpoints/{endpoint_id:uuid}/recover",
        status_code=202,
        operation_id="recoverWebhookEndpoint",
        opt=problems(404),
    )
    async def recover(
        self,
        request: Req,
        tx: Transaction,
        endpoint_id: FromPath[uuid.UUID],
        data: JSONBody[RecoverRequest],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[RecoverResult]:
        """Re-send the endpoint's failed deliveries created since a time (after an outage).

        Covers deliveries given up on and those waiting for a later retry; they are attempted now with a
        fresh retry schedule.
        """

        async def work() -> RecoverResult:
            return RecoverResult(requeued=await deliveries.recover(tx, endpoint_id, data.since, data.until))

        return await run_once(tx, request, idempotency_key, data, work)

    @get("/endpoints/{endpoint_id:uuid}/health", operation_id="getWebhookEndpointHealth", opt=problems(404))
    async def health(self, tx: Transaction, endpoint_id: FromPath[uuid.UUID]) -> EndpointHealth:
        """Endpoint health over the last 24 hours: success rate, latency percentiles, last error.

        Computed from the attempt log; use it to see whether a receiver is failing before it is
        disabled.
        """
        return await deliveries.health(tx, endpoint_id, utcnow())

    @get("/deliveries", operation_id="listWebhookDeliveries")
    async def list_deliveries(
        self,
        reads: Reads,
        endpoint_id: EndpointFilter = None,
        message_id: MessageFilter = None,
        status: StatusFilter = None,
        event_type: TypeFilter = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[DeliveryRead]:
        """List deliveries, newest first, per endpoint or per event and by status.

        A delivery is one event sent to one endpoint, with its retry state. Filter by `endpoint_id`,
        `message_id` (the `webhook-id`) and `status`.
        """
        return await deliveries.list_deliveries(
            reads,
            endpoint_id=endpoint_id,
            message_id=message_id,
            status=status,
            event_type=event_type,
            limit=limit,
            cursor=cursor,
        )

    @get("/deliveries/{delivery_id:int}", operation_id="getWebhookDelivery", opt=problems(404))
    async def get_delivery(self, tx: Transaction, delivery_id: FromPath[int]) -> DeliveryRead:
        """Get a delivery.

        Includes the attempt count, the last status code and when the next attempt is due.
        """
        return await deliveries.get_delivery(tx, delivery_id)

    @get("/deliveries/{delivery_id:int}/attempts", operation_id="listWebhookAttempts", opt=problems(404))
    async def list_attempts(
        self,
        reads: Reads,
        delivery_id: FromPath[int],
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[AttemptRead]:
        """List a delivery's attempts, oldest first: request headers, status, duration, response start.

        Every attempt is logged: the request headers (custom credentials masked), the status code or
        error class, the duration and the first 4 KiB of the response body.
        """
        return await deliveries.list_attempts(reads, delivery_id, limit=limit, cursor=cursor)

    @post(
        "/deliveries/{delivery_id:int}/redeliver",
        status_code=202,
        operation_id="redeliverWebhook",
        opt=problems(404, 409),
    )
    async def redeliver(
        self,
        request: Req,
        tx: Transaction,
        delivery_id: FromPath[int],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[DeliveryRead]:
        """Send a delivery again now, with the same body and `webhook-id` and a fresh retry schedule.

        Use it after fixing a receiver. A delivery already in flight is a 409.
        """
        return await run_once(
            tx, request, idempotency_key, None, lambda: deliveries.redeliver(tx, delivery_id)
        )

// A small client written the way a frontend team would, against types generated from
// openapi/openapi.json by openapi-typescript. `tsc --strict` must compile it: if the spec loses a row
// type, a field, an enum or a header, this stops compiling (and the @ts-expect-error lines below fail
// when a typo would compile, as it does with untyped `Record<string, never>` rows).
import type { components, operations } from "./out/api";

type Schemas = components["schemas"];
type JsonOf<R> = R extends { content: { "application/json": infer B } } ? B : never;
type Ok<Op extends keyof operations, S extends keyof operations[Op]["responses"]> = JsonOf<
  operations[Op]["responses"][S]
>;
type Query<Op extends keyof operations> = operations[Op]["parameters"] extends { query?: infer Q }
  ? NonNullable<Q>
  : never;
type BodyOf<Op extends keyof operations> = operations[Op] extends {
  requestBody: { content: { "application/json": infer B } };
}
  ? B
  : never;

export class HelpdeskClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  private async call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const response = await fetch(this.baseUrl + path, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      const problem = (await response.json()) as Schemas["Problem"];
      throw new Error(`${problem.type}: ${problem.detail}`);
    }
    return (await response.json()) as T;
  }

  listTickets(query: Query<"listTickets"> = {}): Promise<Ok<"listTickets", 200>> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      for (const item of Array.isArray(value) ? value : [value]) params.append(key, String(item));
    }
    return this.call("GET", `/v1/tickets?${params}`);
  }

  createTicket(body: BodyOf<"createTicket">, idempotencyKey: string): Promise<Ok<"createTicket", 201>> {
    return this.call("POST", "/v1/tickets", body, { "Idempotency-Key": idempotencyKey });
  }

  getTicket(id: number): Promise<Ok<"getTicket", 200>> {
    return this.call("GET", `/v1/tickets/${id}`);
  }

  updateTicket(id: number, body: BodyOf<"updateTicket">, etag: string): Promise<Ok<"updateTicket", 200>> {
    return this.call("PATCH", `/v1/tickets/${id}`, body, { "If-Match": etag });
  }

  listComments(ticketId: number): Promise<Ok<"listComments", 200>> {
    return this.call("GET", `/v1/tickets/${ticketId}/comments`);
  }

  createComment(ticketId: number, body: BodyOf<"createComment">): Promise<Ok<"createComment", 201>> {
    return this.call("POST", `/v1/tickets/${ticketId}/comments`, body);
  }

  listWebhookEndpoints(): Promise<Ok<"listWebhookEndpoints", 200>> {
    return this.call("GET", "/v1/webhooks/endpoints");
  }

  createWebhookEndpoint(body: BodyOf<"createWebhookEndpoint">): Promise<Ok<"createWebhookEndpoint", 201>> {
    return this.call("POST", "/v1/webhooks/endpoints", body);
  }

  updateWebhookEndpoint(
    id: string,
    body: BodyOf<"updateWebhookEndpoint">,
  ): Promise<Ok<"updateWebhookEndpoint", 200>> {
    return this.call("PATCH", `/v1/webhooks/endpoints/${id}`, body);
  }

  getWebhookEndpoint(id: string): Promise<Ok<"getWebhookEndpoint", 200>> {
    return this.call("GET", `/v1/webhooks/endpoints/${id}`);
  }
}

// What an agent console does with it: every row and field below is typed from the spec.
export async function workTheQueue(client: HelpdeskClient): Promise<string[]> {
  const open: Schemas["TicketStatus"][] = ["open", "pending"];
  const page = await client.listTickets({ status: open, priority: ["urgent"], sort: "-updated", limit: 50 });
  const lines: string[] = [];
  for (const ticket of page.data) {
    const status: Schemas["TicketStatus"] = ticket.status;
    const assignee: string = ticket.assignee?.name ?? "unassigned";
    lines.push(`#${ticket.id} ${ticket.subject.toUpperCase()} [${status}] ${assignee} v${ticket.version}`);
    // @ts-expect-error -- a typo in a field name must not compile
    lines.push(ticket.subjcet);
  }
  const next: string | null = page.next_cursor;
  if (next !== null) lines.push(`more after ${next}`);

  const created = await client.createTicket(
    { subject: "Printer on fire", message: "It is on fire.", requester_email: "ada@example.com", priority: "high" },
    "create-1",
  );
  // @ts-expect-error -- not a priority the API accepts
  await client.updateTicket(created.id, { priority: "critical" }, `"${created.version}"`);
  const updated = await client.updateTicket(created.id, { status: "resolved" }, `"${created.version}"`);
  const read = await client.getTicket(updated.id);
  const resolvedAt: string | null = read.resolved_at;
  lines.push(`${read.id} resolved at ${resolvedAt ?? "?"}`);

  const comment = await client.createComment(read.id, { body: "Fixed, thanks!", public: true });
  const comments = await client.listComments(read.id);
  for (const c of comments.data) {
    const author: Schemas["AuthorType"] = c.author_type;
    lines.push(`${c.id === comment.id ? "*" : " "} ${author}: ${c.body}`);
  }

  const endpoint = await client.createWebhookEndpoint({
    url: "https://hooks.example.com/helpdesk",
    event_types: ["ticket.resolved"],
  });
  const secret: string = endpoint.secret;
  await client.updateWebhookEndpoint(endpoint.id, { description: "thank-you mails" });
  const endpoints = await client.listWebhookEndpoints();
  for (const e of endpoints.data) {
    const enabled: boolean = e.enabled;
    lines.push(`${e.url} enabled=${enabled} secret-known=${secret.length > 0}`);
  }
  const fetched = await client.getWebhookEndpoint(endpoint.id);
  lines.push(fetched.url);
  return lines;
}

// A receiver's handler, typed from the spec's `webhooks` section.
export function onTicketResolved(body: Schemas["TicketResolvedEvent"]): string {
  const data = body.data;
  return `${body.type}: thank ${data.ticket.requester.name} <${data.ticket.requester.email}>`;
}

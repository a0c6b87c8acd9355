/**
 * A mirubato-sync client: what `webSocketSync.ts` offers (connect, send, handlers, disconnect),
 * plus what the protocol's extensions allow it to promise. A change made on this device is kept
 * until the server acknowledges it, whatever happens to the connection; a change made on another
 * device reaches this one, by relay or by catch-up, without a gap.
 *
 * How: mutations go through a saved outbox with an `eventId` each; the connection comes back with
 * full-jitter backoff for as long as the app wants it, and a silent one is taken for dead; on
 * every (re)connect the client catches up from a cursor that only moves over contiguous seqs; a
 * new epoch starts it from zero; the token is refreshed in-band before it expires.
 *
 * Ordering rule that keeps answers unambiguous: the server answers a connection's frames in
 * order, one answer each, so mutations (several in flight) and control frames (`SYNC_REQUEST`,
 * `PING`, `AUTH`: one at a time, never beside mutations) never share the wire; an `ERROR` or
 * `CONFLICT_DETECTED` then belongs to the oldest frame awaiting an answer.
 */
import { type BackoffOptions, DEFAULT_BACKOFF, backoffDelay } from "./backoff.js";
import { Cursor } from "./cursor.js";
import { Outbox } from "./outbox.js";
import { MemoryStorage, type SyncStorage } from "./storage.js";
import { type ConnectionState, MUTATION_TYPES, RETRYABLE_ERRORS, type SyncEvent } from "./types.js";

/** The part of the WebSocket API the client uses: the browser's, or `ws` in Node. */
export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type SocketFactory = (url: string) => SocketLike;

export interface SyncClientOptions {
  /** The gateway, e.g. `ws://127.0.0.1:8787` (the path `/sync/ws` is added). */
  url: string;
  /** Where the outbox and cursor are kept; in memory unless given. */
  storage?: SyncStorage;
  /** Returns a fresh token for the user: called before the current one expires, and when a
   * connection is refused for its token. Without it an expired token ends the connection. */
  tokenSupplier?: (userId: string) => Promise<string>;
  /** Opens a socket; the global `WebSocket` unless given (Node 20 has none: pass `ws`). */
  socketFactory?: SocketFactory;
  backoff?: BackoffOptions;
  /** A `PING` goes out after this much silence from the client's side. */
  heartbeatMs?: number;
  /** No frame from the server for this long: the connection is taken for dead and replaced. */
  deadPeerMs?: number;
  /** Mutations sent before their answers arrive. */
  maxInFlight?: number;
  /** How long before the token's `exp` it is refreshed. */
  refreshBeforeExpiryMs?: number;
  /** A relay above a gap waits this long for the missing ones before the client catches up. */
  gapGraceMs?: number;
  random?: () => number;
  /** Every frame in and out, as text (the debug page shows them). */
  onFrame?: (direction: "in" | "out", text: string) => void;
}

/** What the client reports to the app through the `error` event. */
export interface SyncError {
  code: string;
  message: string;
  /** The mutation it is about, when it is about one. */
  eventId?: string;
  retryAfterMs?: number;
}

export interface SyncStatus {
  state: ConnectionState;
  connectionId: string | null;
  epoch: string | null;
  cursor: number;
  pending: number;
  tokenExpiresAt: number | null;
}

type Handler = (payload: any) => void;
type AwaitingAnswer = { kind: "mutation"; eventId: string } | { kind: "control"; type: string };

const CLOSE_NORMAL = 1000;
/** The server is restarting on purpose (sync-host's graceful drain on SIGTERM) and will be back
 * shortly: see `closed`. */
const CLOSE_SERVICE_RESTART = 1012;
const CLOSE_AUTHENTICATION = 4001;
const CLOSE_TOO_MANY_CONNECTIONS = 4002;

export class SyncClient {
  private readonly options: Required<Omit<SyncClientOptions, "tokenSupplier" | "onFrame">> &
    Pick<SyncClientOptions, "tokenSupplier" | "onFrame">;
  private handlers = new Map<string, Set<Handler>>();
  private currentState: ConnectionState = "idle";
  private userId: string | null = null;
  private token: string | null = null;
  private socket: SocketLike | null = null;
  private wanted = false;
  private attempt = 0;
  private outbox: Outbox | null = null;
  private cursor = new Cursor();
  private awaiting: AwaitingAnswer[] = [];
  private controls: SyncEvent[] = [];
  private catchingUp = false;
  private resumeAt = 0;
  private connectionId: string | null = null;
  private tokenExpiresAt: number | null = null;
  private timers = new Map<string, ReturnType<typeof setTimeout>>();
  private firstOpen: ((connected: boolean) => void) | null = null;

  constructor(options: SyncClientOptions) {
    this.options = {
      storage: new MemoryStorage(),
      socketFactory: (url) => new WebSocket(url) as unknown as SocketLike,
      backoff: DEFAULT_BACKOFF,
      heartbeatMs: 20_000,
      deadPeerMs: 45_000,
      maxInFlight: 16,
      refreshBeforeExpiryMs: 90_000,
      gapGraceMs: 1_000,
      random: Math.random,
      ...options,
      url: options.url.replace(/\/+$/, ""),
    };
  }

  /** Connects as `userId`; resolves true once the server welcomed this device, false if the
   * connection ended for good first (refused token without a supplier, evicted, disconnected).
   * Transport failures are retried, never reported as false. */
  async connect(userId: string, token: string): Promise<boolean> {
    this.disconnect();
    this.userId = userId;
    this.useToken(token);
    this.wanted = true;
    this.attempt = 0;
    this.outbox = new Outbox(this.options.storage, `outbox:${userId}`);
    await this.outbox.load();
    const saved = await this.options.storage.load(`cursor:${userId}`);
    const { value = 0, epoch = null } = saved ? JSON.parse(saved) : {};
    this.cursor = new Cursor(value, epoch);
    const opened = new Promise<boolean>((resolve) => (this.firstOpen = resolve));
    this.open();
    return opened;
  }

  /** Ends the connection with 1000 and stops reconnecting; the outbox is kept. */
  disconnect(): void {
    this.wanted = false;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      detach(socket);
      socket.close(CLOSE_NORMAL, "Client disconnecting");
    }
    this.resetWire();
    if (this.currentState !== "idle") {
      this.setState("closed");
    }
    this.settleFirstOpen(false);
  }

  /** Sends `event`. A mutation goes into the outbox (it is sent now if connected, else after the
   * next connect, and retried until acknowledged); its `eventId` is returned. `SYNC_REQUEST`
   * starts a catch-up; other frames (`PING`) are sent when connected and dropped otherwise. */
  send(event: SyncEvent): string | null {
    const stamped = { ...event, timestamp: event.timestamp ?? new Date().toISOString() };
    if (MUTATION_TYPES.has(event.type)) {
      if (!this.outbox) {
        throw new Error("connect() before sending mutations: the outbox belongs to a user");
      }
      const eventId = this.outbox.add(stamped);
      this.pump();
      return eventId;
    }
    if (event.type === "SYNC_REQUEST") {
      this.catchUp();
    } else if (this.currentState === "open") {
      this.controls.push(stamped);
      this.pump();
    }
    return null;
  }

  /** Calls `handler` for every frame of `type` (as the server sent it), or for the client's own
   * events: `state`, `retry` (a reconnect is scheduled), `error`, `acked`, `conflict`, `synced`
   * (a catch-up completed), `resync` (a new epoch), `token` (refreshed), `drained` (the outbox
   * emptied), `*` (every data frame). Returns the unsubscribe function. */
  on(type: string, handler: Handler): () => void {
    let set = this.handlers.get(type);
    if (!set) {
      set = new Set();
      this.handlers.set(type, set);
    }
    set.add(handler);
    return () => this.off(type, handler);
  }

  off(type: string, handler: Handler): void {
    this.handlers.get(type)?.delete(handler);
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  status(): SyncStatus {
    return {
      state: this.currentState,
      connectionId: this.connectionId,
      epoch: this.cursor.epoch,
      cursor: this.cursor.value,
      pending: this.outbox?.size ?? 0,
      tokenExpiresAt: this.tokenExpiresAt,
    };
  }

  /** Resolves once the outbox is saved (after a change, before relying on it surviving). */
  async flushed(): Promise<void> {
    await this.outbox?.flushed();
  }

  // --- the connection ---

  private open(): void {
    if (!this.wanted || !this.userId || !this.token) {
      return;
    }
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const url =
      `${this.options.url}/sync/ws?userId=${encodeURIComponent(this.userId)}` +
      `&token=${encodeURIComponent(this.token)}`;
    let socket: SocketLike;
    try {
      socket = this.options.socketFactory(url);
    } catch (error) {
      this.emit("error", { code: "CONNECT_FAILED", message: String(error) });
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    let welcomed = false;
    socket.onmessage = (message) => {
      const text = typeof message.data === "string" ? message.data : String(message.data);
      if (!welcomed && text.includes('"WELCOME"')) {
        welcomed = true;
      }
      this.received(text);
    };
    socket.onclose = (event) => {
      if (this.socket === socket) {
        this.closed(event.code, event.reason, welcomed);
      }
    };
    socket.onerror = () => {};
    this.watchForSilence();
  }

  private closed(code: number, reason: string, welcomed: boolean): void {
    this.socket = null;
    this.clearTimers();
    this.resetWire();
    if (!this.wanted) {
      this.setState("closed");
      return;
    }
    if (code === CLOSE_TOO_MANY_CONNECTIONS) {
      this.end("EVICTED", `the user's other devices took every connection (${reason || code})`);
      return;
    }
    if (code === CLOSE_SERVICE_RESTART) {
      // Not a failing server: a planned restart, which spreads its closes over a drain window and
      // comes back within seconds. Failed attempts before this close (e.g. a reconnect that the
      // draining host closed before its WELCOME) say nothing about how long to wait now, so the
      // count starts over: the next delay is uniform in [0, baseMs] and the doubling begins again
      // from there if the host is not back yet. (A welcomed connection was at 0 already.)
      this.attempt = 0;
    }
    // A refused handshake reaches a browser as 1006 before any WELCOME: an expired (or, with a
    // supplier to ask, expiring) token is the one cause the client can act on. Anything else is
    // the network or the server, and is retried.
    const expired = code === CLOSE_AUTHENTICATION || (!welcomed && this.tokenExpiresWithin(0));
    const expiring = !welcomed && this.tokenExpiresWithin(this.options.refreshBeforeExpiryMs);
    const supplier = this.options.tokenSupplier;
    if (expired && !supplier) {
      this.end("AUTH_FAILED", `the token was refused or has expired (${reason || code})`);
      return;
    }
    if (supplier && (expired || expiring)) {
      supplier(this.userId ?? "")
        .then((token) => {
          this.useToken(token);
          this.scheduleReconnect();
        })
        .catch((error) => this.end("AUTH_FAILED", `the token supplier failed: ${error}`));
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.wanted) {
      return;
    }
    this.setState("reconnecting");
    const delay = backoffDelay(this.attempt, this.options.backoff, this.options.random);
    this.attempt += 1;
    this.emit("retry", { attempt: this.attempt, delayMs: delay });
    this.timer("reconnect", delay, () => this.open());
  }

  private end(code: string, message: string): void {
    this.wanted = false;
    this.emit("error", { code, message });
    this.setState("closed");
    this.settleFirstOpen(false);
  }

  /** Replaces a connection that has said nothing for `deadPeerMs`. */
  private watchForSilence(): void {
    this.timer("silence", this.options.deadPeerMs, () => {
      const socket = this.socket;
      if (!socket) {
        return;
      }
      detach(socket);
      socket.close(CLOSE_NORMAL, "No frame from the server: reconnecting");
      this.emit("error", { code: "DEAD_PEER", message: "the server went silent; reconnecting" });
      this.closed(1006, "dead peer", true);
    });
  }

  private heartbeat(): void {
    this.timer("heartbeat", this.options.heartbeatMs, () => {
      if (this.awaiting.length === 0 && this.controls.length === 0) {
        this.controls.push({ type: "PING", timestamp: new Date().toISOString() });
        this.pump();
      }
      this.heartbeat();
    });
  }

  // --- frames in ---

  private received(text: string): void {
    this.options.onFrame?.("in", text);
    this.watchForSilence();
    let frame: SyncEvent;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.type) {
      case "WELCOME":
        return this.welcomed(frame);
      case "SYNC_RESPONSE":
        return this.syncResponse(frame);
      case "PONG":
        return this.answered();
      case "AUTH_OK":
        this.tokenExpiresAt = numberOr(frame.expiresAt, this.tokenExpiresAt);
        this.scheduleRefresh();
        this.emit("token", { expiresAt: this.tokenExpiresAt });
        return this.answered();
      case "AUTH_EXPIRING":
        this.refreshToken();
        return;
      case "ERROR":
        return this.refused(frame);
      case "CONFLICT_DETECTED": {
        const head = this.awaiting[0];
        if (head?.kind === "mutation") {
          this.awaiting.shift();
          this.outbox?.remove(head.eventId);
          this.emit("conflict", { ...frame, eventId: head.eventId });
          this.afterAnswer();
        }
        return;
      }
      default:
        return this.data(frame);
    }
  }

  private welcomed(frame: SyncEvent): void {
    this.connectionId = typeof frame.connectionId === "string" ? frame.connectionId : null;
    this.tokenExpiresAt = numberOr(frame.tokenExpiresAt, this.tokenExpiresAt);
    const epoch = typeof frame.epoch === "string" ? frame.epoch : null;
    if (this.cursor.epoch !== null && epoch !== null && epoch !== this.cursor.epoch) {
      this.cursor.reset(epoch);
      this.emit("resync", { epoch });
    } else {
      this.cursor.epoch = epoch;
    }
    this.saveCursor();
    this.attempt = 0;
    this.setState("open");
    this.settleFirstOpen(true);
    this.scheduleRefresh();
    this.heartbeat();
    this.catchUp();
  }

  private syncResponse(frame: SyncEvent): void {
    if (frame.message === "Mutation applied") {
      const eventId = typeof frame.eventId === "string" ? frame.eventId : null;
      const index = this.awaiting.findIndex((a) => a.kind === "mutation" && a.eventId === eventId);
      const answered = index >= 0 ? this.awaiting.splice(index, 1)[0] : this.awaiting.shift();
      const seq = numberOr(frame.streamSeq, null);
      if (seq !== null) {
        this.cursor.received(seq);
      }
      if (answered?.kind === "mutation") {
        this.outbox?.remove(answered.eventId);
        this.emit("acked", { eventId: answered.eventId, seq, duplicate: frame.duplicate === true });
      }
      return this.afterAnswer();
    }
    if (frame.message === "Resync required") {
      this.cursor.reset(typeof frame.epoch === "string" ? frame.epoch : this.cursor.epoch);
      this.emit("resync", { epoch: this.cursor.epoch });
      return;
    }
    // The end of a catch-up: everything up to its head is here.
    this.cursor.caughtUp(numberOr(frame.lastSeq, 0) ?? 0);
    this.catchingUp = false;
    this.saveCursor();
    this.emit("synced", { cursor: this.cursor.value });
    this.answered();
  }

  private refused(frame: SyncEvent): void {
    const code = typeof frame.code === "string" ? frame.code : "ERROR";
    const retryAfterMs = numberOr(frame.retryAfterMs, null) ?? undefined;
    const message = typeof frame.error === "string" ? frame.error : code;
    const head = this.awaiting.shift();
    if (head?.kind === "mutation") {
      if (RETRYABLE_ERRORS.has(code)) {
        // Kept: sent again after a pause, with the same eventId.
        this.pause(retryAfterMs);
      } else {
        this.outbox?.remove(head.eventId);
      }
      this.emit("error", { code, message, eventId: head.eventId, retryAfterMs });
      return this.afterAnswer();
    }
    if (head?.kind === "control" && head.type === "SYNC_REQUEST") {
      this.catchingUp = false;
      this.pause(retryAfterMs);
      this.timer("catch-up", this.resumeAt - Date.now(), () => this.catchUp());
    }
    this.emit("error", { code, message, retryAfterMs });
    this.pump();
  }

  private data(frame: SyncEvent): void {
    const seq = numberOr(frame.streamSeq, null);
    if (seq !== null) {
      this.cursor.received(seq);
      if (this.cursor.hasGap() && !this.catchingUp) {
        // Relays may overtake each other briefly; a gap that stays is caught up.
        this.timer("gap", this.options.gapGraceMs, () => {
          if (this.cursor.hasGap()) {
            this.catchUp();
          }
        });
      }
    }
    this.emit(frame.type, frame);
    this.emit("*", frame);
  }

  // --- frames out ---

  private catchUp(): void {
    if (this.catchingUp || this.controls.some((c) => c.type === "SYNC_REQUEST")) {
      return;
    }
    this.controls.push({
      type: "SYNC_REQUEST",
      timestamp: new Date().toISOString(),
      lastSeq: this.cursor.value,
      ...(this.cursor.epoch ? { epoch: this.cursor.epoch } : {}),
    });
    this.pump();
  }

  /** Sends what may go now: a control frame alone, or mutations up to the window. */
  private pump(): void {
    if (this.currentState !== "open" || !this.socket) {
      return;
    }
    if (this.awaiting.some((a) => a.kind === "control")) {
      return;
    }
    if (this.controls.length > 0) {
      if (this.awaiting.length === 0) {
        const control = this.controls.shift()!;
        if (control.type === "SYNC_REQUEST") {
          this.catchingUp = true;
        }
        this.awaiting.push({ kind: "control", type: control.type });
        this.write(control);
      }
      return;
    }
    if (Date.now() < this.resumeAt || !this.outbox) {
      return;
    }
    const sent = new Set(this.awaiting.map((a) => (a.kind === "mutation" ? a.eventId : "")));
    for (const event of this.outbox.list()) {
      if (this.awaiting.length >= this.options.maxInFlight) {
        break;
      }
      if (!sent.has(event.eventId!)) {
        this.awaiting.push({ kind: "mutation", eventId: event.eventId! });
        this.write(event);
      }
    }
  }

  private write(frame: SyncEvent): void {
    const text = JSON.stringify(frame);
    this.options.onFrame?.("out", text);
    this.socket?.send(text);
  }

  private answered(): void {
    this.awaiting.shift();
    this.afterAnswer();
  }

  private afterAnswer(): void {
    if (this.awaiting.length === 0 && this.outbox?.size === 0) {
      this.emit("drained", {});
    }
    this.pump();
  }

  private pause(retryAfterMs: number | undefined): void {
    const wait = retryAfterMs ?? backoffDelay(1, this.options.backoff, this.options.random);
    this.resumeAt = Math.max(this.resumeAt, Date.now() + wait);
    this.timer("resume", wait, () => this.pump());
  }

  // --- the token ---

  private scheduleRefresh(): void {
    if (this.tokenExpiresAt === null || !this.options.tokenSupplier) {
      return;
    }
    const due = this.tokenExpiresAt * 1000 - this.options.refreshBeforeExpiryMs - Date.now();
    this.timer("refresh", Math.max(0, due), () => this.refreshToken());
  }

  private refreshToken(): void {
    const supplier = this.options.tokenSupplier;
    if (!supplier || !this.userId || this.controls.some((c) => c.type === "AUTH")) {
      return;
    }
    supplier(this.userId)
      .then((token) => {
        this.useToken(token);
        this.controls.push({ type: "AUTH", timestamp: new Date().toISOString(), token });
        this.pump();
      })
      .catch((error) =>
        this.emit("error", { code: "TOKEN_REFRESH_FAILED", message: String(error) }),
      );
  }

  /** Takes `token`; its `exp` stands until the server reports one (WELCOME, AUTH_OK). */
  private useToken(token: string): void {
    this.token = token;
    this.tokenExpiresAt = tokenExpiry(token);
  }

  private tokenExpiresWithin(ms: number): boolean {
    const exp = this.tokenExpiresAt;
    return exp !== null && exp * 1000 - ms <= Date.now();
  }

  // --- housekeeping ---

  private resetWire(): void {
    this.awaiting = [];
    this.controls = [];
    this.catchingUp = false;
  }

  private saveCursor(): void {
    if (this.userId) {
      const value = JSON.stringify({ value: this.cursor.value, epoch: this.cursor.epoch });
      this.options.storage.save(`cursor:${this.userId}`, value).catch(() => {});
    }
  }

  private setState(state: ConnectionState): void {
    if (state !== this.currentState) {
      this.currentState = state;
      this.emit("state", state);
    }
  }

  private settleFirstOpen(connected: boolean): void {
    const settle = this.firstOpen;
    this.firstOpen = null;
    settle?.(connected);
  }

  private timer(name: string, ms: number, run: () => void): void {
    clearTimeout(this.timers.get(name));
    this.timers.set(name, setTimeout(run, Math.max(0, ms)));
  }

  private clearTimers(): void {
    for (const timer of this.timers.values()) {
      clearTimeout(timer);
    }
    this.timers.clear();
  }

  private emit(type: string, payload: unknown): void {
    for (const handler of this.handlers.get(type) ?? []) {
      try {
        handler(payload);
      } catch (error) {
        // A failing handler must not break the connection.
        console.error(`mirubato-sync: a "${type}" handler threw`, error);
      }
    }
  }
}

/** Stops listening to a socket the client is done with. Its errors are still swallowed: closing a
 * socket whose handshake has not finished fails it with an `error` event, which `ws` (an
 * EventEmitter) throws when nothing listens. */
function detach(socket: SocketLike): void {
  socket.onopen = socket.onmessage = socket.onclose = null;
  socket.onerror = () => {};
}

function numberOr<T>(value: unknown, fallback: T): number | T {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

/** The `exp` claim of a JWT, read without verifying it (the server verifies). */
export function tokenExpiry(token: string | null): number | null {
  const payload = token?.split(".")[1];
  if (!payload) {
    return null;
  }
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = JSON.parse(json).exp;
    return typeof exp === "number" ? exp : null;
  } catch {
    return null;
  }
}

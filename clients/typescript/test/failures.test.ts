/**
 * The client's failure paths against the real sync-host: a connection closed for its token
 * (4001) with a supplier that answers and with one that fails, a device evicted by the user's
 * connection cap (4002), and a gateway that goes silent. Each asserts the state and the error
 * code the package documents (`src/client.ts`).
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import WebSocket from "ws";
import { type SyncClient, type SyncError, tokenExpiry } from "../src/index.js";
import {
  Host,
  client,
  drained,
  entry,
  newHost,
  next,
  recording,
  stopStarted,
  storedEntries,
  token,
  track,
} from "./host.js";
import { SilentProxy } from "./proxy.js";

const proxies: SilentProxy[] = [];
const rawSockets: WebSocket[] = [];

after(async () => {
  for (const socket of rawSockets) socket.terminate();
  for (const proxy of proxies) await proxy.close();
  await stopStarted();
});

/** Every `type` event from now on. */
function collect<T = any>(sync: SyncClient, type: string): T[] {
  const seen: T[] = [];
  sync.on(type, (payload: T) => seen.push(payload));
  return seen;
}

/** Resolves if the client emits no `type` event for `ms`; fails with the event otherwise. */
async function quiet(sync: SyncClient, type: string, ms: number): Promise<void> {
  const seen = await next(sync, type, () => true, ms).then(
    (payload) => ({ payload }),
    () => null,
  );
  assert.equal(seen, null, `unexpected ${type}: ${JSON.stringify(seen?.payload)}`);
}

/** A raw connection for `user` that the server welcomed. */
async function welcomed(host: Host, user: string, ms = 20_000): Promise<WebSocket> {
  const socket = new WebSocket(
    `${host.url}/sync/ws?userId=${encodeURIComponent(user)}&token=${token(user)}`,
  );
  rawSockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no WELCOME within ${ms} ms`)), ms);
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(why));
    };
    socket.on("error", (error) => fail(`raw connection failed: ${error}`));
    socket.on("close", (code) => fail(`raw connection closed (${code}) before WELCOME`));
    socket.on("message", (data) => {
      if (JSON.parse(String(data)).type === "WELCOME") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return socket;
}

// A leeway of 60 s lets the host take, at the handshake, a token that expired 57 s ago; its 60-s
// grace after `exp` then ends within seconds, and the connection's next frame (a heartbeat PING)
// is answered with close 4001, as for any token that expired while connected.
const LEEWAY_60 = { SPIN_VARIABLE_JWT_LEEWAY_SECONDS: "60" };
const EXPIRED_57_S_AGO = -57;

test("close 4001: the client asks its tokenSupplier, reconnects with the fresh token and keeps working", async () => {
  const host = await newHost(LEEWAY_60);
  const { factory, sockets } = recording(host);
  const supplied: string[] = [];
  const sync = track(
    client(host, {
      socketFactory: factory,
      heartbeatMs: 300,
      // The token service is down until the host has closed the connection: the in-band refresh
      // fails (TOKEN_REFRESH_FAILED), so the host's 4001 comes first; then it answers.
      tokenSupplier: async (user) => {
        if (sockets[0]?.closeCode !== 4001) throw new Error("token service unavailable");
        supplied.push(token(user, 3600));
        return supplied.at(-1)!;
      },
    }),
  );
  const errors = collect<SyncError>(sync, "error");
  assert.equal(await sync.connect("expiring", token("expiring", EXPIRED_57_S_AGO)), true);
  const states = collect(sync, "state");
  await next(sync, "state", (s) => s === "open", 20_000);

  assert.equal(sockets[0].closeCode, 4001, "the host closed the first connection for its token");
  assert.deepEqual(states, ["reconnecting", "open"]);
  assert.equal(sockets.length, 2, "one reconnect");
  assert.equal(supplied.length, 1, "the supplier was asked once the host had closed");
  const fresh = supplied[0];
  assert.ok(
    sockets[1].url.includes(`token=${encodeURIComponent(fresh)}`),
    "the reconnect carries the supplied token",
  );
  assert.equal(sync.status().tokenExpiresAt, tokenExpiry(fresh));
  assert.deepEqual(
    errors.filter((e) => e.code !== "TOKEN_REFRESH_FAILED"),
    [],
    "only the failed in-band refreshes were reported",
  );

  const eventId = sync.send(entry("after-4001"));
  const acked = await next(sync, "acked", (a) => a.eventId === eventId);
  assert.equal(acked.duplicate, false);
  await drained(sync);
  assert.equal(sync.state, "open");
  assert.deepEqual(await storedEntries(host, "expiring"), ["after-4001"]);
});

test("close 4001 with a failing tokenSupplier: AUTH_FAILED, closed, no more reconnects", async () => {
  const host = await newHost(LEEWAY_60);
  const { factory, sockets } = recording(host);
  let asked = 0;
  const sync = track(
    client(host, {
      socketFactory: factory,
      heartbeatMs: 300,
      tokenSupplier: async () => {
        asked += 1;
        throw new Error("token service unavailable");
      },
    }),
  );
  const errors = collect<SyncError>(sync, "error");
  const failed = next<SyncError>(sync, "error", (e) => e.code === "AUTH_FAILED", 20_000);
  assert.equal(await sync.connect("refused", token("refused", EXPIRED_57_S_AGO)), true);
  const states = collect(sync, "state");
  await failed;

  assert.equal(sync.state, "closed");
  assert.deepEqual(states, ["closed"], "straight from open to closed");
  assert.equal(sockets[0].closeCode, 4001, "the host closed the connection for its token");
  assert.equal(errors.at(-1)!.code, "AUTH_FAILED");
  assert.deepEqual(
    errors.slice(0, -1).filter((e) => e.code !== "TOKEN_REFRESH_FAILED"),
    [],
    "before it, only the failed in-band refreshes",
  );
  const askedAtEnd = asked;
  await Promise.all([quiet(sync, "retry", 2_000), quiet(sync, "state", 2_000)]);
  assert.equal(sockets.length, 1, "no reconnect");
  assert.equal(asked, askedAtEnd, "the supplier is not asked again");
  assert.equal(sync.state, "closed");
});

test("close 4002 (the user's connection cap): EVICTED, closed, no reconnect", async () => {
  const host = await newHost();
  const { factory, sockets } = recording(host);
  const sync = track(client(host, { socketFactory: factory }));
  assert.equal(await sync.connect("capped", token("capped")), true);
  const states = collect(sync, "state");
  const evicted = next<SyncError>(sync, "error", (e) => e.code === "EVICTED", 20_000);
  // The host keeps 10 connections per user: the 10 newer ones take every slot.
  const others: WebSocket[] = [];
  for (let n = 0; n < 10; n += 1) others.push(await welcomed(host, "capped"));
  await evicted;

  assert.equal(sync.state, "closed");
  assert.deepEqual(states, ["closed"]);
  assert.equal(sockets[0].closeCode, 4002, "the host closed the oldest connection with 4002");
  await Promise.all([quiet(sync, "retry", 2_000), quiet(sync, "state", 2_000)]);
  assert.equal(sockets.length, 1, "no reconnect to take a slot back");
  assert.equal(sync.state, "closed");
  assert.ok(
    others.every((socket) => socket.readyState === WebSocket.OPEN),
    "the newer connections keep theirs",
  );
});

test("a silent gateway: DEAD_PEER, reconnecting while the path is dead, open again once it works", async () => {
  const host = await newHost();
  const proxy = new SilentProxy(host.gatewayPort);
  proxies.push(proxy);
  await proxy.listen();
  const sync = track(client(host, { url: proxy.url, heartbeatMs: 300, deadPeerMs: 1_500 }));
  assert.equal(await sync.connect("silent", token("silent")), true);
  sync.send(entry("before"));
  await drained(sync);
  const states = collect(sync, "state");

  // Nothing is forwarded any more, and nothing is closed.
  const dead = next<SyncError>(sync, "error", (e) => e.code === "DEAD_PEER", 10_000);
  proxy.stall();
  await dead;
  assert.equal(sync.state, "reconnecting");
  assert.deepEqual(states, ["reconnecting"]);
  // A change made meanwhile is kept; the next attempt through the dead path hangs in its
  // handshake, and is given up as dead too.
  sync.send(entry("during"));
  assert.equal(sync.status().pending, 1);
  await next<SyncError>(sync, "error", (e) => e.code === "DEAD_PEER", 10_000);
  assert.ok(proxy.accepted >= 2, "the client tried again through the dead path");
  assert.equal(sync.state, "reconnecting");

  const open = next(sync, "state", (s) => s === "open", 15_000);
  proxy.resume();
  await open;
  await drained(sync);
  const eventId = sync.send(entry("after"));
  await next(sync, "acked", (a) => a.eventId === eventId);
  assert.equal(sync.state, "open");
  assert.ok(!states.includes("closed"), "it never gave up");
  assert.deepEqual(await storedEntries(host, "silent"), ["after", "before", "during"]);
});

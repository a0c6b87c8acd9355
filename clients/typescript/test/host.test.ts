/**
 * The client against the real sync-host (target/release/sync-host, built by scripts/test): a
 * killed host, a reconnect storm, a duplicate send after a crash, token refresh, and offline edits
 * on two devices.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { MemoryStorage, type SyncClient } from "../src/index.js";
import { client, drained, entry, newHost, next, stopStarted, storedEntries, token, track } from "./host.js";

after(stopStarted);

test("a killed host loses nothing: changes made while it is down are sent once it is back", async () => {
  const host = await newHost();
  const sync = track(client(host));
  assert.equal(await sync.connect("killed", token("killed")), true);
  sync.send(entry("before"));
  await drained(sync);
  const down = next(sync, "state", (s) => s === "reconnecting");
  await host.kill();
  await down;
  for (const id of ["down-1", "down-2", "down-3"]) sync.send(entry(id));
  assert.equal(sync.status().pending, 3, "kept in the outbox while the host is down");
  await host.start();
  await drained(sync);
  assert.equal(sync.state, "open");
  assert.deepEqual(await storedEntries(host, "killed"), ["before", "down-1", "down-2", "down-3"]);
});

test("a reconnect storm: every client comes back, spread out by jitter, none gives up", async () => {
  const host = await newHost();
  const storm = Array.from({ length: 30 }, (_, n) => track(client(host)));
  await Promise.all(storm.map((sync, n) => sync.connect(`storm-${n}`, token(`storm-${n}`))));
  const reconnectedAt: number[] = [];
  const back = storm.map((sync) =>
    next(sync, "state", (s) => s === "reconnecting").then(() =>
      next(sync, "state", (s) => s === "open", 60_000).then(() => reconnectedAt.push(Date.now())),
    ),
  );
  // The host stays down until every client has failed more attempts than the Mirubato client's
  // five before it gives up.
  const persisted = storm.map((sync) => next(sync, "retry", (r) => r.attempt >= 6, 60_000));
  await host.stop();
  await Promise.all(persisted);
  await host.start();
  await Promise.all(back);
  assert.equal(reconnectedAt.length, 30);
  assert.ok(storm.every((sync) => sync.state === "open"));
  const spread = Math.max(...reconnectedAt) - Math.min(...reconnectedAt);
  assert.ok(spread > 50, `the clients came back ${spread} ms apart: no jitter?`);
});

test("a change sent again after a crash lost its ack is applied once", async () => {
  const host = await newHost();
  const storage = new MemoryStorage();
  const first = track(client(host, { storage }));
  await first.connect("dup", token("dup"));
  const eventId = first.send(entry("once"))!;
  const acked = await next(first, "acked");
  assert.equal(acked.eventId, eventId);
  first.disconnect();
  // The app crashed after sending but before saving the ack: the event is still in its outbox.
  await storage.save("outbox:dup", JSON.stringify([{ ...entry("once"), eventId, timestamp: new Date().toISOString() }]));
  const second = track(client(host, { storage }));
  const again = next(second, "acked");
  await second.connect("dup", token("dup"));
  const answer = await again;
  assert.deepEqual([answer.eventId, answer.seq, answer.duplicate], [eventId, acked.seq, true]);
  await drained(second);
  assert.deepEqual(await storedEntries(host, "dup"), ["once"]);
});

test("the token is refreshed in-band before it expires, without reconnecting", async () => {
  const host = await newHost();
  let supplied = 0;
  const sync = track(
    client(host, {
      refreshBeforeExpiryMs: 90_000,
      tokenSupplier: async (user) => {
        supplied += 1;
        return token(user, 3600);
      },
    }),
  );
  // Expires in 92 s: the refresh is due 90 s before, so in about 2 s.
  await sync.connect("refresh", token("refresh", 92));
  const connectionId = sync.status().connectionId;
  const firstExpiry = sync.status().tokenExpiresAt!;
  const refreshed = await next(sync, "token");
  assert.equal(supplied, 1);
  assert.ok(refreshed.expiresAt > firstExpiry + 3000, "the server took the new token");
  assert.equal(sync.status().connectionId, connectionId, "the same connection");
  assert.equal(sync.state, "open");
});

test("offline edits on two devices reach each other once both are back", async () => {
  const host = await newHost();
  const seen = new Map<SyncClient, Set<string>>();
  const device = async () => {
    const sync = track(client(host));
    const ids = new Set<string>();
    seen.set(sync, ids);
    sync.on("*", (frame) => {
      const entries = frame.entry ? [frame.entry] : (frame.entries ?? []);
      for (const e of entries) ids.add(e.id);
    });
    await sync.connect("offline", token("offline"));
    return sync;
  };
  const [a, b] = [await device(), await device()];
  const bothDown = Promise.all([a, b].map((s) => next(s, "state", (x) => x === "reconnecting")));
  await host.stop();
  await bothDown;
  for (const n of [1, 2, 3]) {
    a.send(entry(`a-${n}`));
    b.send(entry(`b-${n}`));
  }
  await host.start();
  await Promise.all([drained(a), drained(b)]);
  await until(a, "*", () => ["b-1", "b-2", "b-3"].every((id) => seen.get(a)!.has(id)));
  await until(b, "*", () => ["a-1", "a-2", "a-3"].every((id) => seen.get(b)!.has(id)));
  assert.deepEqual(await storedEntries(host, "offline"), ["a-1", "a-2", "a-3", "b-1", "b-2", "b-3"]);
});

test("a new epoch (the store was reset) starts the cursor from zero", async () => {
  const host = await newHost();
  const sync = track(client(host));
  await sync.connect("epoch", token("epoch"));
  for (const id of ["old-1", "old-2"]) sync.send(entry(id));
  await drained(sync);
  const before = sync.status();
  assert.equal(before.cursor, 2, "both acks were contiguous");
  const down = next(sync, "state", (s) => s === "reconnecting");
  await host.stop();
  await down;
  for (const suffix of ["", "-wal", "-shm"]) {
    rmSync(join(host.stateDir, `sqlite_db.db${suffix}`), { force: true });
  }
  const resync = next(sync, "resync");
  await host.start();
  const { epoch } = await resync;
  assert.notEqual(epoch, before.epoch);
  await next(sync, "synced", () => true);
  assert.equal(sync.status().cursor, 0, "nothing of the new stream is here yet");
  sync.send(entry("new-1"));
  await drained(sync);
  assert.equal(sync.status().cursor, 1);
  assert.deepEqual(await storedEntries(host, "epoch"), ["new-1"]);
});

/** Resolves once `done` holds: now, or after one of the client's `type` events. */
async function until(sync: SyncClient, type: string, done: () => boolean): Promise<void> {
  if (!done()) await next(sync, type, done);
}

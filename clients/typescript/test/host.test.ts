/**
 * The client against the real sync-host (target/release/sync-host, built by scripts/test): a
 * killed host, a reconnect storm, a duplicate send after a crash, token refresh, offline edits
 * on two devices, a new epoch, and a graceful restart (SIGTERM: every socket closed with 1012).
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { MemoryStorage, type SyncClient } from "../src/index.js";
import {
  type Host,
  type Opened,
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

test("a graceful restart: SIGTERM closes every client with 1012, exits 0, and they all come back and catch up", async () => {
  // A short drain window, so that the test does not wait the default 10 s.
  const drainArgs = ["--drain-seconds", "1"];
  const host = await newHost({}, drainArgs);
  const users = ["drain-a", "drain-b"];
  /** Every change made for a user, by any of its devices. */
  const made = new Map<string, string[]>(users.map((user) => [user, []]));
  const devices = users.flatMap((user) => [0, 1, 2].map((n) => restartDevice(host, user, `${user}-${n}`)));
  for (const device of devices) {
    assert.equal(await device.sync.connect(device.user, token(device.user)), true);
  }
  /** A change on `device`, applied to its own state at once (as the app does) and sent. */
  const change = (device: RestartDevice, what: string) => {
    const id = `${device.name}-${what}`;
    device.known.add(id);
    made.get(device.user)!.push(id);
    device.sync.send(entry(id));
  };
  for (const device of devices) for (const what of ["before-1", "before-2"]) change(device, what);
  await Promise.all(devices.map((device) => drained(device.sync)));

  // The socket each device has open now is the one the drain has to close with 1012.
  const open = devices.map((device) => device.sockets.at(-1)!);
  assert.ok(open.every((socket) => socket.closeCode === null), "every device is connected");
  const firstRetries = devices.map((device) => next(device.sync, "retry"));
  const exit = await host.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, `sync-host's exit on SIGTERM; its log:\n${host.log}`);
  // Each client's close is handled (and recorded) before its first reconnect is scheduled.
  const retries = await Promise.all(firstRetries);
  assert.deepEqual(
    open.map((socket) => socket.closeCode),
    devices.map(() => 1012),
    `every connection closed as a service restart, not dropped (reasons: ${JSON.stringify(
      open.map((socket) => socket.closeReason),
    )})`,
  );
  for (const retry of retries) {
    assert.equal(retry.attempt, 1, "the first backoff step");
    assert.ok(retry.delayMs <= 100, `reconnect soon: ${retry.delayMs} ms is within baseMs`);
  }

  // While the host is down, two devices of each user make changes: they wait in the outbox.
  const offline = devices.filter((device) => !device.name.endsWith("-2"));
  for (const device of offline) for (const what of ["down-1", "down-2"]) change(device, what);
  for (const device of offline) assert.equal(device.sync.status().pending, 2);

  const back = devices.map((device) => next(device.sync, "state", (s) => s === "open", 60_000));
  await host.start({}, drainArgs);
  await Promise.all(back);
  await Promise.all(devices.map((device) => drained(device.sync)));
  // Every change of a user, made on any of its devices before or during the restart, reaches
  // every device of that user (by relay or by catch-up).
  for (const device of devices) {
    const all = made.get(device.user)!;
    await until(device.sync, "*", () => all.every((id) => device.known.has(id)));
  }
  for (const user of users) {
    assert.deepEqual(await storedEntries(host, user), [...made.get(user)!].sort());
  }
  assert.ok(devices.every((device) => device.sync.state === "open"));
});

interface RestartDevice {
  user: string;
  /** Prefixes the ids of the entries it makes. */
  name: string;
  sync: SyncClient;
  /** Every socket it opened, with its close code. */
  sockets: Opened[];
  /** The entry ids in its state: its own changes, and those relayed or caught up. */
  known: Set<string>;
}

/** A device of `user` whose sockets are recorded and whose state is the set of entry ids. */
function restartDevice(host: Host, user: string, name: string): RestartDevice {
  const { factory, sockets } = recording(host);
  const sync = track(client(host, { socketFactory: factory }));
  const known = new Set<string>();
  sync.on("*", (frame) => {
    const entries = frame.entry ? [frame.entry] : (frame.entries ?? []);
    for (const e of entries) known.add(e.id);
  });
  return { user, name, sync, sockets, known };
}

/** Resolves once `done` holds: now, or after one of the client's `type` events. */
async function until(sync: SyncClient, type: string, done: () => boolean): Promise<void> {
  if (!done()) await next(sync, type, done);
}

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  backoffDelay,
  Cursor,
  MemoryStorage,
  Outbox,
  type SocketLike,
  SyncClient,
  tokenExpiry,
} from "../src/index.js";

test("backoff: full jitter under a doubling ceiling, capped, and never a give-up", () => {
  const options = { baseMs: 100, capMs: 1000 };
  assert.equal(backoffDelay(0, options, () => 0.999999), 100);
  assert.equal(backoffDelay(2, options, () => 0.999999), 400);
  assert.equal(backoffDelay(50, options, () => 0.999999), 1000, "capped, still a delay");
  assert.equal(backoffDelay(3, options, () => 0), 0, "full jitter reaches zero");
  const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(5, options)));
  assert.ok(delays.size > 10, "a storm of clients spreads out");
});

test("cursor: moves only over contiguous seqs, or to a completed catch-up's head", () => {
  const cursor = new Cursor(3, "e1");
  cursor.received(5);
  assert.equal(cursor.value, 3, "a relay above a gap does not move it");
  assert.ok(cursor.hasGap());
  cursor.received(4);
  assert.equal(cursor.value, 5, "the gap closed");
  assert.ok(!cursor.hasGap());
  cursor.received(9);
  cursor.caughtUp(7);
  assert.equal(cursor.value, 7);
  assert.ok(cursor.hasGap(), "9 is still above 8");
  cursor.received(8);
  assert.equal(cursor.value, 9);
  cursor.caughtUp(2);
  assert.equal(cursor.value, 9, "never backwards");
  cursor.received(Number.NaN);
  cursor.received(1e300);
  assert.equal(cursor.value, 9, "numbers that are not seqs are ignored");
  cursor.reset("e2");
  assert.deepEqual([cursor.value, cursor.epoch, cursor.hasGap()], [0, "e2", false]);
});

test("outbox: ids are unique, and what is saved survives a reload in order", async () => {
  const storage = new MemoryStorage();
  const outbox = new Outbox(storage, "outbox:u");
  const a = outbox.add({ type: "ENTRY_CREATED", entry: { id: "a" } });
  const b = outbox.add({ type: "ENTRY_CREATED", entry: { id: "b" }, eventId: "given" });
  assert.notEqual(a, b);
  assert.equal(b, "given");
  await outbox.flushed();
  const reloaded = new Outbox(storage, "outbox:u");
  await reloaded.load();
  assert.deepEqual(reloaded.list().map((e) => e.eventId), [a, "given"]);
  assert.ok(reloaded.remove(a));
  assert.ok(!reloaded.remove(a));
  await reloaded.flushed();
  const again = new Outbox(storage, "outbox:u");
  await again.load();
  assert.deepEqual(again.list().map((e) => e.eventId), ["given"]);
});

test("tokenExpiry reads exp without trusting anything else", () => {
  const payload = Buffer.from(JSON.stringify({ sub: "u", exp: 1234 })).toString("base64url");
  assert.equal(tokenExpiry(`x.${payload}.y`), 1234);
  assert.equal(tokenExpiry("not a token"), null);
  assert.equal(tokenExpiry(null), null);
});

/** A socket the test drives by hand: the server's side of it is whatever the test calls. */
class FakeSocket implements SocketLike {
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  sent: string[] = [];
  send(data: string): void {
    this.sent.push(data);
  }
  close(): void {}
  /** The server sends `frame`. */
  receive(frame: object): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  /** The connection ends with `code`, as the browser reports it. */
  end(code: number, reason = ""): void {
    this.onclose?.({ code, reason });
  }
}

/** A socket factory whose sockets the test takes, in order, as the client opens them. */
function fakeSockets(): { factory: (url: string) => SocketLike; next: () => Promise<FakeSocket> } {
  const opened: FakeSocket[] = [];
  let waiting: ((socket: FakeSocket) => void) | null = null;
  const factory = () => {
    const socket = new FakeSocket();
    if (waiting) {
      const take = waiting;
      waiting = null;
      take(socket);
    } else {
      opened.push(socket);
    }
    return socket;
  };
  const next = () =>
    new Promise<FakeSocket>((resolve, reject) => {
      const socket = opened.shift();
      if (socket) return resolve(socket);
      const timer = setTimeout(() => reject(new Error("the client opened no socket within 5 s")), 5_000);
      waiting = (socket) => {
        clearTimeout(timer);
        resolve(socket);
      };
    });
  return { factory, next };
}

test("close 1012 (service restart): the next reconnect starts from the first backoff step", async () => {
  const sockets = fakeSockets();
  const sync = new SyncClient({
    url: "ws://fake",
    socketFactory: sockets.factory,
    backoff: { baseMs: 5, capMs: 10_000 },
    // The top of every jitter range: each delay is its attempt's whole ceiling.
    random: () => 0.999999,
  });
  const retries: { attempt: number; delayMs: number }[] = [];
  sync.on("retry", (retry) => retries.push(retry));
  try {
    const connected = sync.connect("u", "not-a-jwt");
    // Four connects are refused (1006 before any WELCOME): the ceiling doubles each time.
    for (let n = 0; n < 4; n += 1) (await sockets.next()).end(1006);
    assert.deepEqual(retries.map((r) => r.delayMs), [5, 10, 20, 40]);

    // The fifth reaches a host that is draining for a restart: closed with 1012 before its
    // WELCOME. The next delay is the first step's again, not 80 ms.
    (await sockets.next()).end(1012, "service restart");
    assert.deepEqual(retries.at(-1), { attempt: 1, delayMs: 5 });
    // And the count goes on from there.
    (await sockets.next()).end(1006);
    assert.deepEqual(retries.at(-1), { attempt: 2, delayMs: 10 });

    // A welcomed connection closed with 1012 does the same.
    const welcomed = await sockets.next();
    welcomed.receive({ type: "WELCOME", connectionId: "c1", epoch: "e1" });
    assert.equal(await connected, true);
    welcomed.end(1012, "service restart");
    assert.deepEqual(retries.at(-1), { attempt: 1, delayMs: 5 });
    assert.equal(sync.state, "reconnecting");
    await sockets.next();
  } finally {
    sync.disconnect();
  }
});

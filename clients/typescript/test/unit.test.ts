import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay, Cursor, MemoryStorage, Outbox, tokenExpiry } from "../src/index.js";

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

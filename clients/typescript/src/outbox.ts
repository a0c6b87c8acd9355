/**
 * Mutations not yet acknowledged, in the order they were made, each with an `eventId` so that a
 * retry after a lost ack is applied once (the server answers it with the original seq). An event
 * leaves only when the server has acknowledged it or refused it for good; the list is saved on
 * every change, so a reload or a crash keeps it.
 */
import type { SyncStorage } from "./storage.js";
import type { SyncEvent } from "./types.js";

export class Outbox {
  private events: SyncEvent[] = [];
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private storage: SyncStorage,
    private key: string,
  ) {}

  /** Loads what a previous session left. */
  async load(): Promise<void> {
    const saved = await this.storage.load(this.key);
    const parsed: unknown = saved ? JSON.parse(saved) : [];
    const kept = Array.isArray(parsed) ? (parsed as SyncEvent[]) : [];
    // Events added before the load finished stay after the saved ones.
    const added = this.events.filter((e) => !kept.some((k) => k.eventId === e.eventId));
    this.events = [...kept, ...added];
  }

  /** Adds `event` (giving it an `eventId` unless it has one); returns the id. */
  add(event: SyncEvent): string {
    const eventId = event.eventId ?? newEventId();
    this.events.push({ ...event, eventId });
    this.persist();
    return eventId;
  }

  /** Removes the event with `eventId`; false when it was not there. */
  remove(eventId: string): boolean {
    const before = this.events.length;
    this.events = this.events.filter((e) => e.eventId !== eventId);
    if (this.events.length === before) {
      return false;
    }
    this.persist();
    return true;
  }

  get size(): number {
    return this.events.length;
  }

  /** The events in order, oldest first. */
  list(): readonly SyncEvent[] {
    return this.events;
  }

  /** Resolves once every change so far is saved. */
  flushed(): Promise<void> {
    return this.saving;
  }

  private persist(): void {
    const snapshot = JSON.stringify(this.events);
    this.saving = this.saving.then(() => this.storage.save(this.key, snapshot)).catch(() => {});
  }
}

/** A random RFC 4122 version 4 id. */
export function newEventId(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

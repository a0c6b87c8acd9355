/**
 * The device's position in its user's change stream. `value` is a promise: every change with a
 * seq at or below it is on this device. It moves only over seqs that are contiguous (acks and
 * relays carry theirs as `streamSeq`) or to the head a completed catch-up reports, never on a
 * number that merely arrived: a relay can overtake changes still on their way, and taking its seq
 * would skip them for good (docs/protocol.md §8).
 */
export class Cursor {
  private seen = new Set<number>();

  constructor(
    public value = 0,
    public epoch: string | null = null,
  ) {}

  /** A change at `seq` is on this device. */
  received(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq <= this.value) {
      return;
    }
    this.seen.add(seq);
    while (this.seen.delete(this.value + 1)) {
      this.value += 1;
    }
  }

  /** A catch-up completed: everything up to `head` is on this device. */
  caughtUp(head: number): void {
    if (Number.isSafeInteger(head) && head > this.value) {
      this.value = head;
    }
    for (const seq of this.seen) {
      if (seq <= this.value) {
        this.seen.delete(seq);
      }
    }
    while (this.seen.delete(this.value + 1)) {
      this.value += 1;
    }
  }

  /** Whether changes above the cursor arrived while some below them did not. */
  hasGap(): boolean {
    return this.seen.size > 0;
  }

  /** The stream was reset (a new epoch): nothing of it is on this device. */
  reset(epoch: string | null): void {
    this.value = 0;
    this.epoch = epoch;
    this.seen.clear();
  }
}

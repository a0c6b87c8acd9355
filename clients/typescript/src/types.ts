/** A frame as the protocol defines it (docs/protocol.md §2): a `type`, a `timestamp`, and the
 * fields of that type. */
export interface SyncEvent {
  type: string;
  timestamp?: string;
  eventId?: string;
  [field: string]: unknown;
}

/** Frames that change data: they go through the outbox and are retried until acknowledged. */
export const MUTATION_TYPES = new Set([
  "ENTRY_CREATED",
  "ENTRY_UPDATED",
  "ENTRY_DELETED",
  "PIECE_ADDED",
  "PIECE_UPDATED",
  "PIECE_REMOVED",
  "PIECE_DISSOCIATED",
  "PLAN_CREATED",
  "PLAN_UPDATED",
  "PLAN_OCCURRENCE_COMPLETED",
]);

/** Error codes after which a mutation is worth sending again; any other refusal is final. */
export const RETRYABLE_ERRORS = new Set([
  "RATE_LIMITED",
  "WRITE_FAILED",
  "STORAGE_UNAVAILABLE",
  "RATE_LIMITER_UNAVAILABLE",
]);

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

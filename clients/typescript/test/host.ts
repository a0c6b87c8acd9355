/** The real sync-host, started for a test on loopback ports with its own state directory. */
import { type ChildProcess, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { type SocketFactory, type SocketLike, SyncClient, type SyncClientOptions } from "../src/index.js";

/** The repository root, from `clients/typescript/dist/test/`. */
export const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
export const SECRET = "test-secret-0123456789abcdef-0123456789abcdef";
/** How long a host may take to serve, and to exit when told to, before the test fails. */
const START_DEADLINE_MS = 120_000;
const STOP_DEADLINE_MS = 60_000;

/** An HS256 token for `user`, as the Mirubato API signs them, valid for `seconds`. */
export function token(user: string, seconds = 3600): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const body = `${encode({ alg: "HS256", typ: "JWT" })}.${encode({
    sub: user,
    email: `${user}@example.com`,
    iat: now,
    exp: now + seconds,
  })}`;
  return `${body}.${createHmac("sha256", SECRET).update(body).digest("base64url")}`;
}

/** The address test clients are configured with. Each connect goes to wherever the host listens
 * now: every start takes a port the OS picks, so a restart never needs the old port back (which
 * another socket may have taken meanwhile). */
export const CLIENT_URL = "ws://sync-host.test";

/** How a host process ended: its exit status, or the signal that ended it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Host {
  private child: ChildProcess | null = null;
  readonly stateDir = mkdtempSync(join(tmpdir(), "sync-client-test-"));
  log = "";
  /** The gateway's port at the latest start, as the host reported it. */
  gatewayPort = 0;

  get url(): string {
    if (this.gatewayPort === 0) throw new Error("the host has not started");
    return `ws://127.0.0.1:${this.gatewayPort}`;
  }

  /** `url`, with [`CLIENT_URL`] in front replaced by where the host listens now. */
  resolve(url: string): string {
    return url.startsWith(CLIENT_URL) ? this.url + url.slice(CLIENT_URL.length) : url;
  }

  /** Starts the host and resolves once it serves (its "Serving" line); `args` go after the
   * test's own ones to `sync-host up` (e.g. `--drain-seconds 1`). */
  async start(env: Record<string, string> = {}, args: string[] = []): Promise<void> {
    const child = spawn(
      join(ROOT, "target/release/sync-host"),
      [
        "up", "--manifest", join(ROOT, "spin.toml"), "--listen", "127.0.0.1:0",
        "--gateway-listen", "127.0.0.1:0", "--publish-listen", "127.0.0.1:0",
        "--state-dir", this.stateDir, ...args,
      ],
      {
        env: {
          ...process.env,
          SPIN_VARIABLE_JWT_SECRET: SECRET,
          SYNC_HOST_CACHE_DIR: join(ROOT, "target/sync-host-test-cache"),
          ...env,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.child = child;
    child.stderr!.on("data", (chunk) => (this.log += chunk));
    // Its "Serving" line, its exit, or the deadline: a host that hangs fails the test with its
    // log instead of blocking the run.
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`sync-host printed no Serving line within ${START_DEADLINE_MS} ms:\n${this.log}`));
      }, START_DEADLINE_MS);
      child.stdout!.on("data", (chunk) => {
        out += chunk;
        if (out.includes("Serving ")) {
          clearTimeout(timer);
          const gateway = /^Gateway ws:\/\/127\.0\.0\.1:(\d+)/m.exec(out);
          if (!gateway) {
            child.kill("SIGKILL");
            reject(new Error(`sync-host reported no gateway address:\n${out}`));
            return;
          }
          this.gatewayPort = Number(gateway[1]);
          resolve();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`sync-host exited (${code}):\n${this.log}`));
      });
    });
  }

  /** SIGKILL, as a crash. */
  async kill(): Promise<Exit | null> {
    return this.signal("SIGKILL");
  }

  /** SIGTERM, and waits for the exit. */
  async stop(): Promise<Exit | null> {
    return this.signal("SIGTERM");
  }

  /** Sends `signal` and resolves with how the host exited (null if it was not running). */
  private async signal(signal: NodeJS.Signals): Promise<Exit | null> {
    const child = this.child;
    this.child = null;
    if (!child) return null;
    if (child.exitCode !== null || child.signalCode !== null) {
      return { code: child.exitCode, signal: child.signalCode };
    }
    const exited = new Promise<Exit>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`sync-host did not exit on ${signal} within ${STOP_DEADLINE_MS} ms:\n${this.log}`));
      }, STOP_DEADLINE_MS);
      child.once("exit", (code, exitSignal) => {
        clearTimeout(timer);
        resolve({ code, signal: exitSignal });
      });
    });
    child.kill(signal);
    return exited;
  }
}

/** The hosts and clients a test file started, stopped by [`stopStarted`] when its tests are done. */
const started: { hosts: Host[]; clients: SyncClient[] } = { hosts: [], clients: [] };

/** A host of its own for one test, started with `env` and the extra `args`. */
export async function newHost(env: Record<string, string> = {}, args: string[] = []): Promise<Host> {
  const host = new Host();
  started.hosts.push(host);
  await host.start(env, args);
  return host;
}

/** `sync`, disconnected by [`stopStarted`]. */
export function track(sync: SyncClient): SyncClient {
  started.clients.push(sync);
  return sync;
}

/** Disconnects every tracked client and kills every host [`newHost`] started. */
export async function stopStarted(): Promise<void> {
  for (const sync of started.clients) sync.disconnect();
  for (const host of started.hosts) await host.kill();
}

/** One socket a client opened: its URL, and how the server ended it. */
export interface Opened {
  url: string;
  closeCode: number | null;
  closeReason: string | null;
}

/** A `ws` socket factory that records every socket the client opens and the close code each
 * ended with (recorded before the client's own `onclose` runs). */
export function recording(host: Host): { factory: SocketFactory; sockets: Opened[] } {
  const sockets: Opened[] = [];
  const factory: SocketFactory = (url) => {
    const opened: Opened = { url, closeCode: null, closeReason: null };
    sockets.push(opened);
    const socket = new WebSocket(host.resolve(url));
    socket.on("close", (code, reason) => {
      opened.closeCode = code;
      opened.closeReason = String(reason);
    });
    return socket as unknown as SocketLike;
  };
  return { factory, sockets };
}

/** A practice-log entry change, as the Mirubato client sends one. */
export function entry(id: string) {
  return { type: "ENTRY_CREATED", entry: { id, duration: 1, updatedAt: "2026-01-01T00:00:00Z" } };
}

/** A client with the `ws` socket and quick timings, for tests. */
export function client(host: Host, options: Partial<SyncClientOptions> = {}): SyncClient {
  return new SyncClient({
    url: CLIENT_URL,
    socketFactory: (url) => new WebSocket(host.resolve(url)) as unknown as SocketLike,
    backoff: { baseMs: 100, capMs: 2000 },
    heartbeatMs: 5_000,
    deadPeerMs: 15_000,
    ...options,
  });
}

/** Resolves with the first payload of `type` for which `accept` holds, or rejects after `ms`. */
export function next<T = any>(
  sync: SyncClient,
  type: string,
  accept: (payload: T) => boolean = () => true,
  ms = 20_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${type} within ${ms} ms (state ${sync.state})`));
    }, ms);
    const off = sync.on(type, (payload: T) => {
      if (accept(payload)) {
        clearTimeout(timer);
        off();
        resolve(payload);
      }
    });
  });
}

/** Resolves once the client's outbox is empty (now, or at its next `drained`). */
export async function drained(sync: SyncClient, ms = 30_000): Promise<void> {
  if (sync.status().pending === 0) return;
  await next(sync, "drained", () => sync.status().pending === 0, ms);
}

/** Every entry id a user has, read by a fresh raw connection's catch-up from 0. */
export async function storedEntries(host: Host, user: string): Promise<string[]> {
  const socket = new WebSocket(
    `${host.url}/sync/ws?userId=${encodeURIComponent(user)}&token=${token(user)}`,
  );
  const ids: string[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.on("error", reject);
    socket.on("message", (data) => {
      const frame = JSON.parse(String(data));
      if (frame.type === "WELCOME") {
        socket.send(JSON.stringify({ type: "SYNC_REQUEST", timestamp: new Date().toISOString(), lastSeq: 0 }));
      } else if (frame.type === "BULK_SYNC" && !frame.replay) {
        ids.push(...frame.entries.map((e: { id: string }) => e.id));
      } else if (frame.type === "SYNC_RESPONSE" && frame.message !== "Mutation applied") {
        resolve();
      }
    });
  });
  socket.close(1000);
  return ids.sort();
}

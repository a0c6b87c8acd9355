/**
 * A TCP proxy of the test's own between a client and the host's gateway, that can go silent: a
 * peer that stops answering without closing anything, as a dead NAT entry or a frozen gateway.
 */
import { type Server, type Socket, connect, createServer } from "node:net";

interface Pair {
  client: Socket;
  upstream: Socket | null;
  /** Drops every byte, both ways; the sockets stay open. */
  silent: boolean;
}

export class SilentProxy {
  private server: Server | null = null;
  private pairs = new Set<Pair>();
  private stalled = false;
  /** Connections accepted so far (the client's attempts through the proxy). */
  accepted = 0;

  constructor(private readonly targetPort: number) {}

  get url(): string {
    const address = this.server?.address();
    if (!address || typeof address === "string") throw new Error("the proxy is not listening");
    return `ws://127.0.0.1:${address.port}`;
  }

  async listen(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  }

  /** Stops forwarding, in both directions, on every connection and on those accepted from now
   * on; nothing is closed. */
  stall(): void {
    this.stalled = true;
    for (const pair of this.pairs) pair.silent = true;
  }

  /** New connections are forwarded again. The silenced ones stay silent: they lost bytes. */
  resume(): void {
    this.stalled = false;
  }

  /** Destroys every connection and stops listening. */
  async close(): Promise<void> {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
    this.pairs.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise((resolve) => server.close(resolve));
  }

  private accept(client: Socket): void {
    this.accepted += 1;
    const pair: Pair = { client, upstream: null, silent: this.stalled };
    this.pairs.add(pair);
    client.on("error", () => {});
    if (pair.silent) {
      // Accepted, never answered: the handshake hangs.
      client.on("data", () => {});
      return;
    }
    const upstream = connect(this.targetPort, "127.0.0.1");
    pair.upstream = upstream;
    upstream.on("error", () => {});
    client.on("data", (chunk) => {
      if (!pair.silent) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!pair.silent) client.write(chunk);
    });
    // An end while forwarding is passed on; a silent connection keeps the other side open.
    client.on("close", () => {
      if (!pair.silent) upstream.destroy();
    });
    upstream.on("close", () => {
      if (!pair.silent) client.destroy();
    });
  }
}

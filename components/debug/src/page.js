// The debug page: two "devices" of one user, each a MirubatoSync.SyncClient (clients/typescript),
// with every frame in and out, the connection's state, and ack and relay latency.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  $("gateway").value =
    params.get("gateway") ||
    (location.port === "8787" ? `ws://${location.host}` : `ws://${location.hostname}:8787`);

  // When a test mutation was sent, by entry id: the other pane measures its relay against it.
  const sentAt = new Map();
  let canMint = false;

  async function refreshHealth() {
    try {
      const response = await fetch("/health");
      $("health").textContent = `${response.status}\n${JSON.stringify(await response.json(), null, 2)}`;
    } catch (error) {
      $("health").textContent = `unreachable: ${error}`;
    }
  }

  async function mint() {
    const response = await fetch("/debug/dev-token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId: $("user").value }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.status);
    return body.token;
  }

  function pane(name) {
    const root = document.createElement("section");
    root.innerHTML = `
      <h2>Device ${name.toUpperCase()}</h2>
      <button id="connect-${name}">Connect</button>
      <button id="disconnect-${name}">Disconnect</button>
      <button id="send-${name}">Send test mutation</button>
      <dl>
        <dt>state</dt><dd id="state-${name}">idle</dd>
        <dt>connection id</dt><dd id="connection-${name}">–</dd>
        <dt>epoch</dt><dd id="epoch-${name}">–</dd>
        <dt>cursor</dt><dd id="cursor-${name}">–</dd>
        <dt>outbox</dt><dd id="pending-${name}">0</dd>
        <dt>token expires</dt><dd id="expiry-${name}">–</dd>
        <dt>last ack</dt><dd id="ack-latency-${name}">–</dd>
        <dt>last relay</dt><dd id="relay-latency-${name}">–</dd>
      </dl>
      <div class="log"><table><tbody id="log-${name}"></tbody></table></div>`;
    $("panes").appendChild(root);

    const log = (direction, text) => {
      const row = document.createElement("tr");
      row.className = direction;
      const time = new Date().toISOString().slice(11, 23);
      const size = new TextEncoder().encode(text).length;
      row.innerHTML = "<td></td><td></td><td></td><td></td>";
      const arrow = { in: "←", out: "→", note: "·" }[direction];
      [time, arrow, `${size} B`, text].forEach((value, i) => (row.children[i].textContent = value));
      $(`log-${name}`).prepend(row);
    };

    let client = null;
    const show = () => {
      if (!client) return;
      const status = client.status();
      $(`state-${name}`).textContent = status.state;
      $(`connection-${name}`).textContent = status.connectionId || "–";
      $(`epoch-${name}`).textContent = status.epoch || "–";
      $(`cursor-${name}`).textContent = String(status.cursor);
      $(`pending-${name}`).textContent = String(status.pending);
      $(`expiry-${name}`).textContent = status.tokenExpiresAt
        ? new Date(status.tokenExpiresAt * 1000).toISOString()
        : "–";
    };

    $(`connect-${name}`).onclick = async () => {
      client?.disconnect();
      client = new MirubatoSync.SyncClient({
        url: $("gateway").value,
        storage: new MirubatoSync.IndexedDbStorage(`mirubato-sync-debug-${name}`),
        tokenSupplier: canMint ? () => mint() : undefined,
        onFrame: (direction, text) => {
          log(direction, text);
          queueMicrotask(show);
        },
      });
      for (const event of ["state", "synced", "acked", "token", "resync"]) client.on(event, show);
      client.on("retry", (r) => log("note", `reconnecting in ${r.delayMs} ms (attempt ${r.attempt})`));
      client.on("error", (e) => log("note", `error ${e.code}: ${e.message}`));
      client.on("acked", (ack) => {
        const started = sentAt.get(ack.eventId);
        if (started) $(`ack-latency-${name}`).textContent = `${(performance.now() - started.at).toFixed(1)} ms (seq ${ack.seq})`;
      });
      client.on("*", (frame) => {
        const id = frame.entry && frame.entry.id;
        const started = id && sentAt.get(id);
        if (started && started.pane !== name && !frame.replay) {
          $(`relay-latency-${name}`).textContent = `${(performance.now() - started.at).toFixed(1)} ms (${id}, seq ${frame.streamSeq})`;
        }
      });
      await client.connect($("user").value, $("token").value.trim());
      show();
    };
    $(`disconnect-${name}`).onclick = () => {
      client?.disconnect();
      show();
    };
    $(`send-${name}`).onclick = () => {
      if (!client) return log("note", "connect first");
      const id = `debug-${name}-${Date.now()}`;
      const entry = { id, duration: 1, type: "practice", updatedAt: new Date().toISOString() };
      const eventId = client.send({ type: "ENTRY_CREATED", entry });
      const at = performance.now();
      sentAt.set(id, { at, pane: name });
      sentAt.set(eventId, { at, pane: name });
      show();
    };
  }

  pane("a");
  pane("b");
  $("health-refresh").onclick = refreshHealth;
  $("mint").onclick = async () => {
    try {
      $("token").value = await mint();
      $("mint-status").textContent = "minted, valid 1 h";
    } catch (error) {
      $("mint-status").textContent = `refused: ${error.message}`;
    }
  };
  fetch("/debug/config")
    .then((r) => r.json())
    .then((config) => {
      canMint = config.mint;
      $("mint").hidden = !config.mint;
    });
  refreshHealth();
})();

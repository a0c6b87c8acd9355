//! A real WebSocket client, as a Mirubato device: connects through a gateway with the query-string
//! token (compat), sends frames, and awaits frames with a deadline (a hung test fails, it never waits
//! forever).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// How long a frame the test expects may take.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(15);

/// A Mirubato-shaped token for `user`, signed with the harness's secret, expiring in `seconds`.
pub fn token(user: &str, seconds: i64) -> String {
    let mut claims = auth::matrix::mirubato_claims(user);
    claims["exp"] = json!(auth::matrix::now() + seconds);
    auth::matrix::sign_hs256(crate::TEST_JWT_SECRET, &claims)
}

pub struct Device {
    socket: WebSocketStream<TcpStream>,
    pub welcome: Value,
    /// Frames that arrived while waiting for Pushpin's subscriptions, served first by `recv`.
    early: std::collections::VecDeque<Value>,
    /// A close that arrived while the device waited for its subscriptions (an eviction can beat
    /// the readiness marker): what the next read reports.
    closed_early: Option<(u16, String)>,
    /// Readiness markers still on their way (Pushpin run) are skipped by `recv`.
    skip_markers: bool,
    /// Replay frames (`"replay": true`, sent after WELCOME: docs/delivery.md), set aside by `recv`
    /// so tests about other frames need not expect them.
    pub replayed: Vec<Value>,
}

/// How a connection ended, as the device saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// A close frame's code and reason (1005 for a close without a code).
    Closed(u16, String),
    /// A reset, a socket error, the end of the stream, or silence past a deadline.
    Broken(String),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Closed(code, reason) => write!(f, "closed: {code} {reason:?}"),
            Ended::Broken(why) => f.write_str(why),
        }
    }
}

/// Why a connection attempt was refused.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub body: Value,
}

pub fn timestamp() -> String {
    "2026-11-24T12:00:00.000Z".into()
}

/// One connection attempt's outcome.
pub enum Attempt {
    Connected(Box<Device>),
    /// The handshake was answered with an HTTP status other than 101.
    Refused(Refusal),
    /// The transport failed (reset, closed mid-handshake, no WELCOME).
    Failed(String),
}

impl Device {
    /// Connects as `user` with `token`, optionally with an `Origin`, and reads the WELCOME.
    /// A refusal is returned; a transport failure panics.
    pub async fn try_connect(
        gateway: &str,
        user: &str,
        token: &str,
        origin: Option<&str>,
    ) -> Result<Device, Refusal> {
        match Device::attempt(gateway, user, token, origin).await {
            Attempt::Connected(device) => Ok(*device),
            Attempt::Refused(refusal) => Err(refusal),
            Attempt::Failed(why) => panic!("connect failed: {why}"),
        }
    }

    /// One connection attempt, as a client that retries would make it.
    pub async fn attempt(gateway: &str, user: &str, token: &str, origin: Option<&str>) -> Attempt {
        let origin: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        Device::attempt_with_headers(gateway, user, token, &origin).await
    }

    /// [`Device::attempt`] with any handshake headers, repeats and forgeries included.
    pub async fn attempt_with_headers(
        gateway: &str,
        user: &str,
        token: &str,
        headers: &[(&str, &str)],
    ) -> Attempt {
        Device::attempt_from(gateway, None, user, token, headers).await
    }

    /// [`Device::attempt_with_headers`] from the local address `local` when given.
    async fn attempt_from(
        gateway: &str,
        local: Option<IpAddr>,
        user: &str,
        token: &str,
        headers: &[(&str, &str)],
    ) -> Attempt {
        let path = format!("/sync/ws?userId={user}&token={token}");
        let handshake = handshake(gateway, local, &path, headers);
        let socket = match tokio::time::timeout(FRAME_DEADLINE, handshake).await {
            Err(_) => return Attempt::Failed("the handshake timed out".into()),
            Ok(Err(HandshakeFailure::Refused(refusal))) => return Attempt::Refused(refusal),
            Ok(Err(HandshakeFailure::Transport(why))) => return Attempt::Failed(why),
            Ok(Ok(socket)) => socket,
        };
        let mut device = Device {
            socket,
            welcome: Value::Null,
            early: Default::default(),
            closed_early: None,
            skip_markers: false,
            replayed: Vec::new(),
        };
        device.welcome = loop {
            match tokio::time::timeout(FRAME_DEADLINE, device.socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    break serde_json::from_str(&text).expect("server frames are JSON");
                }
                // Pings are the WebSocket layer's, answered by it.
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                other => return Attempt::Failed(format!("no WELCOME: {other:?}")),
            }
        };
        assert_eq!(device.welcome["type"], "WELCOME", "{}", device.welcome);
        if let Some(publish_url) = crate::publish_url_for(gateway) {
            device.await_subscriptions(&publish_url, user).await;
        }
        Attempt::Connected(Box::new(device))
    }

    /// Connects like a well-behaved client under load: a transport failure, 502/503 (a gateway
    /// overwhelmed by a connect burst) or 429 is retried after an exponential, jittered backoff
    /// (honouring `retryAfter` when given). Returns the device and the attempts it took; panics
    /// after `max_attempts` or on any other refusal.
    pub async fn connect_with_retry(gateway: &str, user: &str, max_attempts: u32) -> (Device, u32) {
        Device::connect_retrying(gateway, None, user, max_attempts, true).await
    }

    /// [`Device::connect_with_retry`] from the local address `local` (127.0.0.2, say): one source
    /// address has only ~28,000 ephemeral ports to reach a gateway with, so tens of thousands of
    /// sockets are spread over several.
    pub async fn connect_with_retry_from(
        gateway: &str,
        local: IpAddr,
        user: &str,
        max_attempts: u32,
    ) -> (Device, u32) {
        Device::connect_retrying(gateway, Some(local), user, max_attempts, true).await
    }

    /// [`Device::connect_with_retry`]; a 429 is retried only when `rate_limited_too`.
    async fn connect_retrying(
        gateway: &str,
        local: Option<IpAddr>,
        user: &str,
        max_attempts: u32,
        rate_limited_too: bool,
    ) -> (Device, u32) {
        let token = token(user, 3600);
        let mut backoff_ms = 50u64;
        let mut last = String::new();
        for attempt in 1..=max_attempts {
            let wait_ms = match Device::attempt_from(gateway, local, user, &token, &[]).await {
                Attempt::Connected(device) => return (*device, attempt),
                Attempt::Refused(refusal) if refusal.status == 429 && rate_limited_too => {
                    last = format!("{refusal:?}");
                    refusal.body["retryAfter"]
                        .as_u64()
                        .map_or(backoff_ms, |s| s * 1000)
                }
                Attempt::Refused(refusal) if matches!(refusal.status, 502 | 503) => {
                    last = format!("{refusal:?}");
                    backoff_ms
                }
                Attempt::Refused(refusal) => panic!("refused: {refusal:?}"),
                Attempt::Failed(why) => {
                    last = why;
                    backoff_ms
                }
            };
            // Full jitter spreads the retries of a burst apart.
            let jitter = std::collections::hash_map::RandomState::new();
            let jittered = std::hash::BuildHasher::hash_one(&jitter, attempt) % (wait_ms + 1);
            tokio::time::sleep(Duration::from_millis(wait_ms / 2 + jittered / 2)).await;
            backoff_ms = (backoff_ms * 2).min(2000);
        }
        panic!("{user}: not connected after {max_attempts} attempts; last: {last}");
    }

    /// Connects, trying again as the Mirubato client does when the handshake fails in transport or
    /// the gateway answers 502/503 (Pushpin does when its upstream connection to the app breaks,
    /// seen with Spin behind it); any other refusal panics.
    pub async fn connect(gateway: &str, user: &str) -> Device {
        Device::connect_retrying(gateway, None, user, 5, false)
            .await
            .0
    }

    /// Pushpin registers a new connection's subscriptions after the client has its 101 (its
    /// subscription race, `docs/gateways.md`): a test waits until a publish to the connection's
    /// own channel arrives before relying on relays. Real clients cope by catching up instead.
    async fn await_subscriptions(&mut self, publish_url: &str, user: &str) {
        let channel = protocol::grip::connection_channel(
            user,
            self.welcome["connectionId"].as_str().unwrap(),
        );
        let marker = json!({"type": "E2E_READY"}).to_string();
        let body = json!({"items": [{"channel": channel, "formats": {"ws-message": {"content": marker}}}]}).to_string();
        for _ in 0..200 {
            let url = publish_url.to_string();
            let body = body.clone();
            // A publish refused under load is simply tried again on the next round.
            let _ = tokio::task::spawn_blocking(move || crate::Host::agent().post(&url).send(body))
                .await
                .unwrap();
            let wait = tokio::time::Instant::now() + Duration::from_millis(50);
            while let Ok(next) = tokio::time::timeout_at(wait, self.socket.next()).await {
                let text = match next {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        // Closed before its subscriptions showed (evicted at once, say): there
                        // is nothing left to wait for; the test reads the close.
                        self.closed_early = Some(frame.map_or((1005, String::new()), |frame| {
                            (u16::from(frame.code), frame.reason.to_string())
                        }));
                        return;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => {
                        self.closed_early = Some((1006, String::new()));
                        return;
                    }
                };
                let frame: Value = serde_json::from_str(&text).expect("server frames are JSON");
                if frame["type"] != "E2E_READY" {
                    // Relays from the user's other devices can beat the marker.
                    self.early.push_back(frame);
                    continue;
                }
                // Markers from earlier attempts may still arrive; `recv` drops them.
                self.skip_markers = true;
                return;
            }
        }
        panic!("pushpin never delivered to {channel}");
    }

    pub async fn send(&mut self, frame: Value) {
        self.socket
            .send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }

    /// Sends a frame; `Err` once the connection has ended.
    pub async fn send_or_end(&mut self, frame: Value) -> Result<(), String> {
        self.socket
            .send(Message::text(frame.to_string()))
            .await
            .map_err(|error| format!("{error:?}"))
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.socket.send(message).await.expect("send");
    }

    /// The next text frame other than a replay, parsed; panics after [`FRAME_DEADLINE`] or on
    /// close.
    pub async fn recv(&mut self) -> Value {
        self.try_recv()
            .await
            .unwrap_or_else(|ended| panic!("{ended}"))
    }

    /// The next text frame, replays included.
    pub async fn recv_any(&mut self) -> Value {
        self.try_recv_any()
            .await
            .unwrap_or_else(|ended| panic!("{ended}"))
    }

    /// Frames until one of type `kind`, returning it and what came before.
    pub async fn recv_until(&mut self, kind: &str) -> (Value, Vec<Value>) {
        self.try_recv_until(kind)
            .await
            .unwrap_or_else(|ended| panic!("{ended}"))
    }

    /// [`Device::recv`], or how the connection ended (a close frame, a reset, end of stream).
    pub async fn try_recv(&mut self) -> Result<Value, String> {
        loop {
            let frame = self.try_recv_any().await?;
            if frame["replay"] == true {
                self.replayed.push(frame);
                continue;
            }
            return Ok(frame);
        }
    }

    /// [`Device::recv_any`], or how the connection ended; panics after [`FRAME_DEADLINE`].
    pub async fn try_recv_any(&mut self) -> Result<Value, String> {
        self.recv_any_within(FRAME_DEADLINE)
            .await
            .expect("no frame within the deadline")
    }

    /// [`Device::try_recv_any`] that gives up after `deadline` with `Err`, as a client with
    /// dead-peer detection does (and then reconnects).
    pub async fn try_recv_any_within(&mut self, deadline: Duration) -> Result<Value, String> {
        self.recv_any_within(deadline)
            .await
            .unwrap_or_else(|_| Err(format!("no frame within {deadline:?}")))
    }

    async fn recv_any_within(
        &mut self,
        deadline: Duration,
    ) -> Result<Result<Value, String>, tokio::time::error::Elapsed> {
        let next = tokio::time::timeout(deadline, self.next_frame()).await?;
        Ok(next.map_err(|ended| ended.to_string()))
    }

    /// The next text frame (replays included), or how the connection ended: also when nothing
    /// arrives within `deadline`.
    pub async fn next_or_end(&mut self, deadline: Duration) -> Result<Value, Ended> {
        tokio::time::timeout(deadline, self.next_frame())
            .await
            .unwrap_or_else(|_| Err(Ended::Broken(format!("no frame within {deadline:?}"))))
    }

    async fn next_frame(&mut self) -> Result<Value, Ended> {
        if let Some(frame) = self.early.pop_front() {
            return Ok(frame);
        }
        if let Some((code, reason)) = &self.closed_early {
            return Err(Ended::Closed(*code, reason.clone()));
        }
        loop {
            let message = self
                .socket
                .next()
                .await
                .ok_or(Ended::Broken("the connection ended".into()))?
                .map_err(|error| Ended::Broken(format!("socket error: {error:?}")))?;
            match message {
                Message::Text(text) => {
                    let frame: Value = serde_json::from_str(&text).expect("server frames are JSON");
                    if self.skip_markers && frame["type"] == "E2E_READY" {
                        continue;
                    }
                    return Ok(frame);
                }
                Message::Close(frame) => {
                    return Err(frame.map_or(Ended::Closed(1005, String::new()), |frame| {
                        Ended::Closed(u16::from(frame.code), frame.reason.to_string())
                    }));
                }
                _ => continue,
            }
        }
    }

    /// [`Device::recv_until`], or how the connection ended.
    pub async fn try_recv_until(&mut self, kind: &str) -> Result<(Value, Vec<Value>), String> {
        let mut before = Vec::new();
        loop {
            let frame = self.try_recv().await?;
            if frame["type"] == kind {
                return Ok((frame, before));
            }
            before.push(frame);
        }
    }

    /// Waits for the server to close; returns the close code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        self.closed_within(FRAME_DEADLINE).await
    }

    /// Like [`Device::closed`], for closes that are due later than [`FRAME_DEADLINE`].
    pub async fn closed_within(&mut self, deadline: Duration) -> (u16, String) {
        if let Some(close) = self.closed_early.take() {
            return close;
        }
        self.close_after(deadline, |_| {}).await
    }

    /// The close that must be the very next message (WebSocket pings aside).
    pub async fn next_is_close(&mut self) -> (u16, String) {
        self.close_after(FRAME_DEADLINE, |message| {
            if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
                panic!("a message before the close: {message:?}")
            }
        })
        .await
    }

    /// Reads until the close, handing every other message to `other`.
    async fn close_after(&mut self, deadline: Duration, other: impl Fn(Message)) -> (u16, String) {
        let deadline = tokio::time::Instant::now() + deadline;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("no close within the deadline");
            match next {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) | None => return (1005, String::new()),
                Some(Ok(message)) => other(message),
                Some(Err(error)) => panic!("socket error while waiting for close: {error}"),
            }
        }
    }

    /// Proves no frame is pending: a PING's PONG must be the very next frame.
    pub async fn assert_nothing_pending(&mut self) {
        self.send(json!({"type": "PING", "timestamp": timestamp()}))
            .await;
        let next = self.recv().await;
        assert_eq!(next["type"], "PONG", "an unexpected frame arrived: {next}");
    }

    /// Sends PING and reads to its PONG: `None` when it came, the close code and reason when
    /// the server closed the connection first.
    pub async fn ping_or_close(&mut self) -> Option<(u16, String)> {
        if let Some(close) = &self.closed_early {
            return Some(close.clone());
        }
        self.send(json!({"type": "PING", "timestamp": timestamp()}))
            .await;
        loop {
            let message = tokio::time::timeout(FRAME_DEADLINE, self.socket.next())
                .await
                .expect("neither PONG nor close within the deadline");
            match message {
                Some(Ok(Message::Text(text))) if text.contains(r#""type":"PONG""#) => return None,
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Some((u16::from(frame.code), frame.reason.to_string()));
                }
                Some(Ok(Message::Close(None))) | None => return Some((1005, String::new())),
                Some(Ok(_)) => continue,
                Some(Err(error)) => panic!("socket error while waiting for PONG: {error}"),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    /// Drops the TCP connection without a close handshake.
    pub fn abort(self) {
        drop(self.socket);
    }
}

/// A bare WebSocket to `/sync/ws` as `user`, as any client opens it: no WELCOME read and no
/// readiness probe. `Err` carries a refusal's status (`None` for a transport failure) and why.
pub async fn open_socket(
    gateway: &str,
    user: &str,
    token: &str,
) -> Result<WebSocketStream<TcpStream>, (Option<u16>, String)> {
    let path = format!("/sync/ws?userId={user}&token={token}");
    match tokio::time::timeout(FRAME_DEADLINE, handshake(gateway, None, &path, &[])).await {
        Err(_) => Err((None, "the handshake timed out".into())),
        Ok(Ok(socket)) => Ok(socket),
        Ok(Err(HandshakeFailure::Refused(refusal))) => {
            Err((Some(refusal.status), refusal.body.to_string()))
        }
        Ok(Err(HandshakeFailure::Transport(why))) => Err((None, why)),
    }
}

/// The client side of the WebSocket handshake, done by hand so that a refusal's whole JSON body is
/// read: a client library returns only what arrived with the status line, and Pushpin sends the
/// body separately. The connection comes from `local` when given, else from wherever the kernel
/// chooses.
async fn handshake(
    gateway: &str,
    local: Option<IpAddr>,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<WebSocketStream<TcpStream>, HandshakeFailure> {
    let transport =
        |what: &str, error: std::io::Error| HandshakeFailure::Transport(format!("{what}: {error}"));
    let address = gateway.strip_prefix("ws://").expect("a ws:// gateway URL");
    let mut stream = connect_from(address, local)
        .await
        .map_err(|e| transport("connect", e))?;
    let key = generate_key();
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| transport("send handshake", e))?;
    let mut received = Vec::new();
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 4096];
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|e| transport("read handshake", e))?;
        if read == 0 {
            return Err(HandshakeFailure::Transport(format!(
                "the gateway closed during the handshake: {:?}",
                String::from_utf8_lossy(&received)
            )));
        }
        received.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {head}"));
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    let rest = received[head_end..].to_vec();
    if status == 101 {
        assert_eq!(
            header("sec-websocket-accept"),
            Some(derive_accept_key(key.as_bytes())),
            "bad Sec-WebSocket-Accept"
        );
        return Ok(WebSocketStream::from_partially_read(stream, rest, Role::Client, None).await);
    }
    let mut body = rest;
    match header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        Some(length) => {
            while body.len() < length {
                let mut chunk = [0u8; 4096];
                let read = stream
                    .read(&mut chunk)
                    .await
                    .map_err(|e| transport("read refusal body", e))?;
                if read == 0 {
                    return Err(HandshakeFailure::Transport(
                        "the refusal body ended early".into(),
                    ));
                }
                body.extend_from_slice(&chunk[..read]);
            }
        }
        None => {
            stream
                .read_to_end(&mut body)
                .await
                .map_err(|e| transport("read refusal body", e))?;
        }
    }
    Err(HandshakeFailure::Refused(Refusal {
        status,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    }))
}

/// A TCP connection to `address` (`host:port`), bound to `local` first when given.
async fn connect_from(address: &str, local: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(local) = local else {
        return TcpStream::connect(address).await;
    };
    let remote = tokio::net::lookup_host(address)
        .await?
        .find(|remote| remote.is_ipv4() == local.is_ipv4())
        .ok_or_else(|| std::io::Error::other(format!("{address} has no address like {local}")))?;
    let socket = if local.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(local, 0))?;
    socket.connect(remote).await
}

enum HandshakeFailure {
    Refused(Refusal),
    Transport(String),
}

//! A real WebSocket client, as a Mirubato device: connects through a gateway with the query-string
//! token (compat), sends frames, and awaits frames with a deadline (a hung test fails, it never waits
//! forever).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a frame the test expects may take.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(15);

/// A Mirubato-shaped token for `user`, signed with the harness's secret, expiring in `seconds`.
pub fn token(user: &str, seconds: i64) -> String {
    let mut claims = auth::matrix::mirubato_claims(user);
    claims["exp"] = json!(auth::matrix::now() + seconds);
    auth::matrix::sign_hs256(crate::TEST_JWT_SECRET, &claims)
}

pub struct Device {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub welcome: Value,
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

impl Device {
    /// Connects as `user` with `token`, optionally with an `Origin`, and reads the WELCOME.
    pub async fn try_connect(
        gateway: &str,
        user: &str,
        token: &str,
        origin: Option<&str>,
    ) -> Result<Device, Refusal> {
        let mut request = format!("{gateway}/sync/ws?userId={user}&token={token}")
            .into_client_request()
            .unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        match tokio::time::timeout(FRAME_DEADLINE, tokio_tungstenite::connect_async(request))
            .await
            .expect("connect timed out")
        {
            Ok((socket, _)) => {
                let mut device = Device {
                    socket,
                    welcome: Value::Null,
                };
                device.welcome = device.recv().await;
                assert_eq!(device.welcome["type"], "WELCOME", "{}", device.welcome);
                Ok(device)
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let body = response
                    .body()
                    .as_ref()
                    .map(|b| serde_json::from_slice(b).unwrap_or(Value::Null))
                    .unwrap_or(Value::Null);
                Err(Refusal { status, body })
            }
            Err(other) => panic!("connect failed: {other}"),
        }
    }

    pub async fn connect(gateway: &str, user: &str) -> Device {
        Device::try_connect(gateway, user, &token(user, 3600), None)
            .await
            .unwrap_or_else(|r| panic!("refused: {r:?}"))
    }

    pub async fn send(&mut self, frame: Value) {
        self.socket
            .send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.socket.send(message).await.expect("send");
    }

    /// The next text frame, parsed; panics after [`FRAME_DEADLINE`] or on close.
    pub async fn recv(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(FRAME_DEADLINE, self.socket.next())
                .await
                .expect("no frame within the deadline")
                .expect("the connection ended")
                .expect("socket error");
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(&text).expect("server frames are JSON");
                }
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Frames until one of type `kind`, returning it and what came before.
    pub async fn recv_until(&mut self, kind: &str) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let frame = self.recv().await;
            if frame["type"] == kind {
                return (frame, before);
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
                Some(Ok(_)) => continue,
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

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    /// Drops the TCP connection without a close handshake.
    pub fn abort(self) {
        drop(self.socket);
    }
}

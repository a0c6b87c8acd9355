//! One client connection after the handshake: client frames become requests to the app (one in
//! flight at a time, so events arrive in order), the app's reply events and the hub's deliveries
//! become frames to the client. Pings reap dead peers; an abrupt end is reported as DISCONNECT.

use super::app_client::{AppClient, AppReply, ConnectionContext};
use super::hub::{CloseRequest, Hub, Inbox, Outbox};
use futures_util::{SinkExt, StreamExt};
use protocol::grip::{AppEvent, ControlMessage, classify};
use protocol::ws_events::{Event, EventKind};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Shortest keep-alive request interval honoured (a guard against a busy loop, not a policy).
const MIN_KEEP_ALIVE: Duration = Duration::from_secs(1);

/// How long one write to the client may wait for room in its socket: a client that reads nothing
/// for this long is dropped, so it cannot hold the session (and its queued frames) forever.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// What the session should do after processing a reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// Close the client with this code and reason.
    Close(u16, String),
    /// Drop the client without a close handshake.
    Drop,
}

/// Per-connection state the app controls through its replies.
pub struct ConnectionState {
    pub context: ConnectionContext,
    pub meta: BTreeMap<String, String>,
    pub keep_alive: Option<Duration>,
    pub outbox: Outbox,
}

impl ConnectionState {
    /// Applies a reply's headers and events: meta, subscriptions, frames for the client (queued on
    /// `outgoing`), close and disconnect.
    pub fn apply(
        &mut self,
        hub: &Hub,
        reply: &AppReply,
        events: Vec<Event>,
        outgoing: &mut Vec<Message>,
    ) -> Next {
        for (name, value) in reply.set_meta() {
            self.set_meta(hub, &name, &value);
        }
        if let Some(seconds) = reply.keep_alive_interval() {
            self.keep_alive = Some(Duration::from_secs(seconds).max(MIN_KEEP_ALIVE));
        }
        for event in events {
            match event.kind {
                EventKind::Open => {}
                EventKind::Text | EventKind::Binary => match classify(&event) {
                    AppEvent::Message {
                        binary: false,
                        content,
                    } => {
                        outgoing.push(Message::text(String::from_utf8_lossy(content).into_owned()));
                    }
                    AppEvent::Message {
                        binary: true,
                        content,
                    } => outgoing.push(Message::binary(content.to_vec())),
                    AppEvent::Control(control) => self.control(hub, control),
                    AppEvent::Unprefixed => {
                        tracing::warn!(
                            connection = self.context.id.as_str(),
                            "dropping an unprefixed message from the app"
                        );
                    }
                    AppEvent::BadControl(error) => {
                        tracing::warn!(
                            connection = self.context.id.as_str(),
                            "ignoring a control message: {error}"
                        );
                    }
                },
                EventKind::Ping => outgoing.push(Message::Ping(event.content.into())),
                EventKind::Pong => outgoing.push(Message::Pong(event.content.into())),
                EventKind::Close => {
                    let (code, reason) = event.close_code().unwrap_or((1000, String::new()));
                    return Next::Close(code, reason);
                }
                EventKind::Disconnect => return Next::Drop,
            }
        }
        Next::Continue
    }

    fn set_meta(&mut self, hub: &Hub, name: &str, value: &str) {
        let name = name.to_ascii_lowercase();
        if value.is_empty() {
            self.meta.remove(&name);
        } else {
            self.meta.insert(name.clone(), value.to_string());
        }
        if name == "user" {
            hub.set_user(&self.context.id, self.meta.get("user").map(String::as_str));
        }
    }

    fn control(&mut self, hub: &Hub, control: ControlMessage) {
        match control {
            ControlMessage::Subscribe { channel, filters } => {
                hub.subscribe(&self.context.id, &channel, &filters, self.outbox.clone());
            }
            ControlMessage::Unsubscribe { channel } => hub.unsubscribe(&self.context.id, &channel),
            ControlMessage::SetMeta { name, value } => self.set_meta(hub, &name, &value),
            // The embedded gateway pings every client itself; app-defined keep-alive content and
            // detach are not needed by this app.
            ControlMessage::KeepAlive { .. } | ControlMessage::Detach => {}
        }
    }
}

pub struct Session<S> {
    pub socket: WebSocketStream<S>,
    pub state: ConnectionState,
    pub inbox: Inbox,
    pub client: Arc<AppClient>,
    pub hub: Hub,
    pub ping_interval: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    /// Runs the connection to its end; `pending` are frames from the OPEN reply.
    pub async fn run(mut self, pending: Vec<Message>, initial: Next) {
        let id = self.state.context.id.clone();
        let outcome = self.serve(pending, initial).await;
        if let Err(error) = outcome {
            tracing::debug!(connection = id.as_str(), "connection ended: {error:#}");
        }
        self.hub.remove(&id);
    }

    async fn serve(&mut self, pending: Vec<Message>, initial: Next) -> anyhow::Result<()> {
        for message in pending {
            self.send(message).await?;
        }
        if self.finish(initial).await? {
            return Ok(());
        }
        let mut ping = tokio::time::interval(self.ping_interval);
        ping.tick().await;
        let mut missed_pongs = 0u32;
        let mut idle_since = tokio::time::Instant::now();
        loop {
            let keep_alive = self.state.keep_alive;
            let keep_alive_due = async {
                match keep_alive {
                    Some(interval) => tokio::time::sleep_until(idle_since + interval).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // A close the app asked for goes first: it must not wait behind queued frames.
                biased;
                close = self.inbox.closes.recv() => {
                    if let Some(CloseRequest { code, reason }) = close {
                        self.finish(Next::Close(code, reason)).await?;
                        let _ = self.call(&[Event::new(EventKind::Disconnect)]).await;
                    }
                    return Ok(());
                }
                frame = self.socket.next() => {
                    let event = match frame {
                        Some(Ok(Message::Text(text))) => Event::text(text.as_str()),
                        Some(Ok(Message::Binary(data))) => Event { kind: EventKind::Binary, content: data.to_vec() },
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => { missed_pongs = 0; continue; }
                        Some(Ok(Message::Close(frame))) => {
                            let (code, reason) = frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
                            // The app answers a CLOSE with CLOSE; the connection ends either way.
                            let _ = self.call(&[Event::close(code, &reason)]).await;
                            // Reading the client's close queued the reply that echoes its code;
                            // write it out, so the client sees its own code and not 1006.
                            let _ = tokio::time::timeout(SEND_TIMEOUT, self.socket.flush()).await;
                            return Ok(());
                        }
                        Some(Ok(Message::Frame(_))) => continue,
                        Some(Err(_)) | None => {
                            let _ = self.call(&[Event::new(EventKind::Disconnect)]).await;
                            return Ok(());
                        }
                    };
                    missed_pongs = 0;
                    idle_since = tokio::time::Instant::now();
                    let next = self.call(&[event]).await?;
                    if self.finish(next).await? { return Ok(()); }
                }
                frame = self.inbox.frames.recv() => match frame {
                    Some(text) => self.send(Message::text(text)).await?,
                    None => return Ok(()),
                },
                _ = ping.tick() => {
                    missed_pongs += 1;
                    if missed_pongs > 3 {
                        tracing::info!(connection = self.state.context.id.as_str(), "dropping a peer that stopped answering pings");
                        let _ = self.call(&[Event::new(EventKind::Disconnect)]).await;
                        return Ok(());
                    }
                    self.send(Message::Ping(Vec::new().into())).await?;
                }
                () = keep_alive_due => {
                    idle_since = tokio::time::Instant::now();
                    let next = self.call(&[]).await?;
                    if self.finish(next).await? { return Ok(()); }
                }
            }
        }
    }

    /// One request to the app and the processing of its reply.
    async fn call(&mut self, events: &[Event]) -> anyhow::Result<Next> {
        let reply = self
            .client
            .call(&self.state.context, &self.state.meta, events)
            .await?;
        let Some(Ok(events)) = reply.events() else {
            tracing::warn!(
                connection = self.state.context.id.as_str(),
                status = reply.status,
                "the app's reply is not websocket-events; dropping the connection"
            );
            return Ok(Next::Drop);
        };
        let mut outgoing = Vec::new();
        let next = self.state.apply(&self.hub, &reply, events, &mut outgoing);
        for message in outgoing {
            self.send(message).await?;
        }
        Ok(next)
    }

    /// Writes one message, failing when the client leaves no room for [`SEND_TIMEOUT`].
    async fn send(&mut self, message: Message) -> anyhow::Result<()> {
        match tokio::time::timeout(SEND_TIMEOUT, self.socket.send(message)).await {
            Ok(result) => Ok(result?),
            Err(_) => anyhow::bail!("the client read nothing for {SEND_TIMEOUT:?}"),
        }
    }

    /// Acts on `next`; true when the connection is over.
    async fn finish(&mut self, next: Next) -> anyhow::Result<bool> {
        match next {
            Next::Continue => Ok(false),
            Next::Close(code, reason) => {
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                };
                let _ = tokio::time::timeout(SEND_TIMEOUT, self.socket.close(Some(frame))).await;
                Ok(true)
            }
            Next::Drop => Ok(true),
        }
    }
}

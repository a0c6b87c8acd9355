//! One client connection after the handshake: client frames become requests to the app (one in
//! flight at a time, so events arrive in order), the app's reply events and the hub's deliveries
//! become frames to the client. Pings reap dead peers; an abrupt end is reported as DISCONNECT.
//! Writes go through `writer`, so nothing here ever waits for the client to read.

use super::app_client::{AppCall, AppReply, ConnectionContext};
use super::hub::{CloseRequest, Hub, Inbox, OpenConnection, Outbox};
use super::writer::{Ending, Outgoing};
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use grip::ws_events::{Event, EventKind};
use grip::{AppEvent, ControlMessage, classify};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Shortest keep-alive request interval honoured (a guard against a busy loop, not a policy).
const MIN_KEEP_ALIVE: Duration = Duration::from_secs(1);

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
    /// Pings the app sent that the client has not answered yet: only that many pongs go to the
    /// app, so a client cannot turn a flood of pongs into app requests.
    pub pongs_owed: u32,
}

/// At most this many of the app's pings wait for their pongs.
const MAX_PONGS_OWED: u32 = 4;

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
                EventKind::Ping => {
                    self.pongs_owed = (self.pongs_owed + 1).min(MAX_PONGS_OWED);
                    outgoing.push(Message::Ping(event.content.into()));
                }
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

pub struct Session<S, C> {
    pub socket: WebSocketStream<S>,
    pub state: ConnectionState,
    pub inbox: Inbox,
    pub client: Arc<C>,
    pub hub: Hub,
    pub ping_interval: Duration,
    /// Held until the session has ended, so that the drain waits for it.
    pub open: OpenConnection,
}

/// How the loop ended: how the socket ends, and whether the app still has to hear of it (it
/// knows already when it asked for the end, or heard the client's close).
struct End {
    ending: Ending,
    tell_app: bool,
}

impl End {
    fn quietly(ending: Ending) -> Self {
        Self {
            ending,
            tell_app: false,
        }
    }

    fn telling_the_app(ending: Ending) -> Self {
        Self {
            ending,
            tell_app: true,
        }
    }
}

/// The session's reading side: everything but the socket's writing half.
/// Client frames handed to the app in one request at most: those that arrived while the previous
/// request was in flight go together, as Pushpin sends them, so the app can commit them together.
const MAX_EVENTS_PER_CALL: usize = 32;

/// The payload of the gateway's own pings, whose pongs it keeps; a pong that answers one of the
/// app's pings goes to the app, as Pushpin relays it.
const GATEWAY_PING: &[u8] = b"sync-host gateway";

/// The event a client frame is relayed to the app as; `None` for what the gateway handles itself:
/// the pongs to its own pings, pongs nobody asked for, the client's pings (answered by the
/// WebSocket layer) and raw frames. Not for a close, which ends the session.
fn relayed_event(message: Message, pongs_owed: &mut u32) -> Option<Event> {
    match message {
        Message::Text(text) => Some(Event::text(text.as_str())),
        Message::Binary(data) => Some(Event {
            kind: EventKind::Binary,
            content: data.to_vec(),
        }),
        Message::Pong(data) if *pongs_owed > 0 && data.as_ref() != GATEWAY_PING => {
            *pongs_owed -= 1;
            Some(Event {
                kind: EventKind::Pong,
                content: data.to_vec(),
            })
        }
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) | Message::Close(_) => None,
    }
}

type ReadResult = Option<Result<Message, WsError>>;

struct Reader<S, C> {
    stream: SplitStream<WebSocketStream<S>>,
    /// What the socket gave after the frames of the last batch (a close, an error), read next.
    peeked: Option<ReadResult>,
    out: Outgoing,
    writer_ended: tokio::sync::oneshot::Receiver<()>,
    state: ConnectionState,
    inbox: Inbox,
    client: Arc<C>,
    hub: Hub,
    ping_interval: Duration,
}

impl<S, C> Session<S, C>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    C: AppCall,
{
    /// Runs the connection to its end; `pending` are frames from the OPEN reply.
    pub async fn run(self, pending: Vec<Message>, initial: Next) {
        let metrics = crate::ops::metrics::get();
        metrics.gateway_sockets_accepted.inc();
        metrics.gateway_sockets_open.inc();
        let open = self.open;
        let (sink, stream) = self.socket.split();
        let (out, writer_ended) = Outgoing::spawn(sink);
        let mut reader = Reader {
            stream,
            peeked: None,
            out,
            writer_ended,
            state: self.state,
            inbox: self.inbox,
            client: self.client,
            hub: self.hub,
            ping_interval: self.ping_interval,
        };
        for message in pending {
            reader.out.push(message);
        }
        let end = match ending(initial) {
            Some(ending) => End::quietly(ending),
            None => reader.serve().await,
        };
        let Reader {
            out,
            state,
            client,
            hub,
            stream,
            ..
        } = reader;
        let id = state.context.id.as_str();
        tracing::debug!(connection = id, "connection ending: {:?}", end.ending);
        count_close(&end.ending);
        hub.remove(id);
        // The socket's end and the app's DISCONNECT do not wait for each other.
        let tell_app = async {
            if end.tell_app {
                let disconnect = [Event::new(EventKind::Disconnect)];
                if let Err(error) = client.call(&state.context, &state.meta, &disconnect).await {
                    tracing::debug!(connection = id, "DISCONNECT failed: {error:#}");
                }
            }
        };
        // After an orderly close frame, the client's frames are read until its close comes back:
        // a socket closed with frames unread is reset, and a reset can destroy the close frame on
        // its way. An urgent close (`CloseNow`) is for a client that may not be reading at all.
        let closing = matches!(end.ending, Ending::Close(_));
        let hear_the_close = async move {
            if closing {
                let _ = tokio::time::timeout(CLOSE_ECHO_WAIT, until_close(stream)).await;
            }
        };
        tokio::join!(out.finish(end.ending), tell_app, hear_the_close);
        drop(open);
    }
}

/// How long a session waits for the client to answer its close frame.
const CLOSE_ECHO_WAIT: Duration = Duration::from_secs(2);

/// Reads and drops the client's frames up to its close frame or the end of the stream.
async fn until_close<S>(mut stream: SplitStream<WebSocketStream<S>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(Ok(message)) = stream.next().await {
        if matches!(message, Message::Close(_)) {
            return;
        }
    }
}

/// The socket's end in the metrics: the close code sent, 1005 for a close without one, 1006 for
/// a socket dropped without a close frame.
fn count_close(ending: &Ending) {
    let code = match ending {
        Ending::Close(Some(frame)) | Ending::CloseNow(frame) => u16::from(frame.code),
        Ending::Close(None) => u16::from(CloseCode::Status),
        Ending::Drop => 1006,
    };
    let metrics = crate::ops::metrics::get();
    // Open first: a scrape that sees the close counted sees the socket gone too.
    metrics.gateway_sockets_open.dec();
    metrics
        .gateway_closes
        .get_or_create(&crate::ops::metrics::CloseCode {
            code: crate::ops::metrics::close_code(code),
        })
        .inc();
}

/// The gateway's pings to one socket: every `period` (whole seconds), on a whole-second grid that
/// every socket shares. Idle sockets' pings then come due together, in one batch a second, instead
/// of each waking the runtime on its own (333 times a second at 10,000 sockets and 30 s; measured:
/// idle CPU halved, BENCHMARKS.md).
fn ping_timer(period: Duration) -> tokio::time::Interval {
    static GRID_ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let since_origin = GRID_ORIGIN.get_or_init(std::time::Instant::now).elapsed();
    let first = tokio::time::Instant::now() + until_first_ping(since_origin, period);
    tokio::time::interval_at(first, period)
}

/// From `since_origin` (on the grid's clock), the wait for a new socket's first ping: `period`,
/// then on to the grid's next whole second.
fn until_first_ping(since_origin: Duration, period: Duration) -> Duration {
    let off_grid = since_origin.subsec_nanos();
    period + Duration::from_nanos(u64::from((1_000_000_000 - off_grid) % 1_000_000_000))
}

/// When the next keep-alive request is due: `interval` after `idle_since`; never without one, or
/// with one past what the clock holds (the app may ask for up to `u64::MAX` seconds).
fn keep_alive_deadline(
    idle_since: tokio::time::Instant,
    interval: Option<Duration>,
) -> Option<tokio::time::Instant> {
    idle_since.checked_add(interval?)
}

/// What a reply's `Next` means for the socket; `None` to carry on.
fn ending(next: Next) -> Option<Ending> {
    match next {
        Next::Continue => None,
        Next::Close(code, reason) => Some(Ending::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        }))),
        Next::Drop => Some(Ending::Drop),
    }
}

/// A frame the gateway refuses itself (as Pushpin does, with a close code and a reason that says
/// why; the gateway speaks no application's frames), and the app hears the connection is gone.
fn refuse(code: CloseCode, reason: &str) -> End {
    End::telling_the_app(Ending::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    })))
}

impl<S, C> Reader<S, C>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    C: AppCall,
{
    // Long: one `select!` whose arms are everything a session waits for; split up, the priorities
    // between them (`biased`) would no longer be visible in one place. The work an arm starts (an
    // app request above all) is boxed: this future lives as long as the socket, and unboxed it
    // would be as large as its largest arm for all that time (6 KiB, most of an idle socket).
    async fn serve(&mut self) -> End {
        let mut ping = ping_timer(self.ping_interval);
        let mut missed_pongs = 0u32;
        let mut idle_since = tokio::time::Instant::now();
        loop {
            let keep_alive = keep_alive_deadline(idle_since, self.state.keep_alive);
            let keep_alive_due = async {
                match keep_alive {
                    Some(due) => tokio::time::sleep_until(due).await,
                    None => std::future::pending().await,
                }
            };
            // While frames wait for room in the writer's queue, no new work is taken on: what a
            // client that reads slowly can make the gateway hold stays bounded.
            let room = self.out.has_room();
            let (peeked, stream) = (&mut self.peeked, &mut self.stream);
            let next_frame = async move {
                match peeked.take() {
                    Some(frame) => frame,
                    None => stream.next().await,
                }
            };
            tokio::select! {
                // A close the app asked for goes first: it must not wait behind queued frames,
                // nor behind a write the client is not reading.
                biased;
                close = self.inbox.closes.recv() => {
                    return match close {
                        Some(CloseRequest { code, reason, after_queued }) => {
                            let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                            End::telling_the_app(if after_queued { Ending::Close(Some(frame)) } else { Ending::CloseNow(frame) })
                        }
                        None => End::quietly(Ending::Drop),
                    };
                }
                _ = &mut self.writer_ended => {
                    tracing::info!(connection = self.state.context.id.as_str(), "dropping a client that stopped reading");
                    return End::telling_the_app(Ending::Drop);
                }
                () = self.out.wait_for_room(), if !room => self.out.move_backlog(),
                frame = next_frame, if room => {
                    let event = match Box::pin(self.read_client_frame(frame)).await {
                        Ok(Some(event)) => event,
                        Ok(None) => { missed_pongs = 0; continue; }
                        Err(end) => return end,
                    };
                    missed_pongs = 0;
                    idle_since = tokio::time::Instant::now();
                    let events = Box::pin(self.with_ready_frames(event)).await;
                    if let Some(end) = Box::pin(self.call_and_queue(&events)).await { return end; }
                }
                frame = self.inbox.frames.recv(), if room => match frame {
                    Some(text) => self.out.push(Message::text(text)),
                    None => return End::quietly(Ending::Drop),
                },
                _ = ping.tick() => {
                    missed_pongs += 1;
                    if missed_pongs > 3 {
                        tracing::info!(connection = self.state.context.id.as_str(), "dropping a peer that stopped answering pings");
                        return End::telling_the_app(Ending::Drop);
                    }
                    // A writer that is behind has a ping's worth of proof already.
                    if room {
                        self.out.push(Message::Ping(GATEWAY_PING.into()));
                    }
                }
                () = keep_alive_due, if room => {
                    idle_since = tokio::time::Instant::now();
                    if let Some(end) = Box::pin(self.call_and_queue(&[])).await { return end; }
                }
            }
        }
    }

    /// What a frame read from the client means: an event for the app, nothing (a pong of the
    /// gateway's own), or the end of the session.
    async fn read_client_frame(
        &mut self,
        frame: Option<Result<Message, WsError>>,
    ) -> Result<Option<Event>, End> {
        match frame {
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((u16::from(CloseCode::Status), String::new()));
                // The app answers a CLOSE with CLOSE; the connection ends either way, and nothing
                // but the close echo may follow the client's close.
                let _ = self.call(&[Event::close(code, &reason)]).await;
                // Reading the client's close queued the echo of its code: writing it out ends the
                // handshake, so the client sees its code, not 1006.
                Err(End::quietly(Ending::Close(None)))
            }
            Some(Ok(message)) => Ok(relayed_event(message, &mut self.state.pongs_owed)),
            Some(Err(WsError::Capacity(_))) => Err(refuse(CloseCode::Size, "message too large")),
            Some(Err(WsError::Utf8(_))) => Err(refuse(CloseCode::Invalid, "invalid UTF-8")),
            // A frame that breaks RFC 6455 (a reserved opcode or bit, an unmasked frame): the
            // client hears 1002 rather than a bare 1006.
            Some(Err(WsError::Protocol(error))) => {
                tracing::debug!(
                    connection = self.state.context.id.as_str(),
                    "protocol error: {error}"
                );
                Err(refuse(CloseCode::Protocol, "protocol error"))
            }
            Some(Err(_)) | None => Err(End::telling_the_app(Ending::Drop)),
        }
    }

    /// `first` and the data frames the socket already holds after it (up to
    /// [`MAX_EVENTS_PER_CALL`]); anything else it holds is kept for the next turn of the loop.
    /// Each look is one poll with this task's own waker, so a frame that is not there yet wakes
    /// the session as usual.
    async fn with_ready_frames(&mut self, first: Event) -> Vec<Event> {
        let mut events = vec![first];
        while events.len() < MAX_EVENTS_PER_CALL {
            let stream = &mut self.stream;
            let polled = std::future::poll_fn(|cx| Poll::Ready(stream.poll_next_unpin(cx))).await;
            match polled {
                Poll::Ready(Some(Ok(message))) if !matches!(message, Message::Close(_)) => {
                    events.extend(relayed_event(message, &mut self.state.pongs_owed))
                }
                Poll::Ready(other) => {
                    self.peeked = Some(other);
                    break;
                }
                Poll::Pending => break,
            }
        }
        events
    }

    /// One request to the app; its frames are queued for the client. `Some` when the app ended
    /// the connection (it knows, so it is not told again).
    async fn call_and_queue(&mut self, events: &[Event]) -> Option<End> {
        let next = match self.call(events).await {
            Ok((next, outgoing)) => {
                for message in outgoing {
                    self.out.push(message);
                }
                next
            }
            Err(error) => {
                tracing::warn!(
                    connection = self.state.context.id.as_str(),
                    "calling the app failed: {error:#}"
                );
                Next::Drop
            }
        };
        ending(next).map(End::quietly)
    }

    /// One request to the app and the processing of its reply: what to do next, and the frames
    /// for the client.
    async fn call(&mut self, events: &[Event]) -> anyhow::Result<(Next, Vec<Message>)> {
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
            return Ok((Next::Drop, Vec::new()));
        };
        let mut outgoing = Vec::new();
        let next = self.state.apply(&self.hub, &reply, events, &mut outgoing);
        Ok((next, outgoing))
    }
}

#[cfg(test)]
mod tests;

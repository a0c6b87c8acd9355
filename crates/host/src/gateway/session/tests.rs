//! Sessions over an in-memory socket with a fake app, on a paused clock: what a client that stops
//! reading can and cannot hold up.

use super::*;
use crate::gateway::hub::{self, CloseRequest};
use crate::gateway::writer::SEND_TIMEOUT;
use futures_util::{SinkExt, StreamExt};
use grip::PublishItem;
use grip::ws_events;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use std::sync::Mutex;
use tokio::io::DuplexStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The app: echoes text as `m:echo:<text>`, answers CLOSE with the same CLOSE, and records every
/// request's events.
#[derive(Default)]
struct FakeApp {
    requests: Mutex<Vec<Vec<Event>>>,
}

impl FakeApp {
    fn kinds(&self) -> Vec<EventKind> {
        let requests = self.requests.lock().unwrap();
        requests.iter().flatten().map(|e| e.kind).collect()
    }
}

impl AppCall for FakeApp {
    async fn call(
        &self,
        _connection: &ConnectionContext,
        _meta: &BTreeMap<String, String>,
        events: &[Event],
    ) -> anyhow::Result<AppReply> {
        self.requests.lock().unwrap().push(events.to_vec());
        let reply: Vec<Event> = events
            .iter()
            .filter_map(|event| match event.kind {
                EventKind::Text => Some(Event::text(format!(
                    "m:echo:{}",
                    event.as_text().unwrap_or_default()
                ))),
                EventKind::Close => Some(event.clone()),
                _ => None,
            })
            .collect();
        Ok(events_reply(&reply, &[]))
    }
}

/// Connection [`CONNECTION`]'s state before the app's first reply, delivering to `outbox`.
fn connection_state(outbox: hub::Outbox) -> ConnectionState {
    ConnectionState {
        context: ConnectionContext {
            id: CONNECTION.into(),
            path_and_query: "/sync/ws".into(),
            handshake: HeaderMap::new(),
            peer: "127.0.0.1:1".parse().unwrap(),
        },
        meta: BTreeMap::new(),
        keep_alive: None,
        outbox,
        pongs_owed: 0,
    }
}

/// A `websocket-events` reply carrying `events`, with `headers` beside its content type.
fn events_reply(events: &[Event], headers: &[(&'static str, String)]) -> AppReply {
    let mut map = HeaderMap::new();
    map.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(ws_events::CONTENT_TYPE),
    );
    for (name, value) in headers {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    AppReply {
        status: 200,
        headers: map,
        body: ws_events::encode(events).into(),
    }
}

const CONNECTION: &str = "c1";
const CHANNEL: &str = "connection:c1";

struct Harness {
    client: WebSocketStream<DuplexStream>,
    hub: Hub,
    closes: tokio::sync::mpsc::UnboundedSender<CloseRequest>,
    app: Arc<FakeApp>,
    session: JoinHandle<()>,
}

/// A running session whose socket buffers hold `buffer` bytes each way.
async fn start(buffer: usize) -> Harness {
    start_after(buffer, None).await
}

/// A running session, after the app's reply to OPEN (its headers and events) if given.
async fn start_after(buffer: usize, open: Option<AppReply>) -> Harness {
    let (server_io, client_io) = tokio::io::duplex(buffer);
    let socket = WebSocketStream::from_raw_socket(
        server_io,
        Role::Server,
        Some(crate::gateway::websocket_config()),
    )
    .await;
    let client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
    let hub = Hub::default();
    let (outbox, inbox) = hub::connection_queues();
    hub.subscribe(CONNECTION, CHANNEL, &[], outbox.clone());
    let closes = outbox.closes.clone();
    let app = Arc::new(FakeApp::default());
    let mut state = connection_state(outbox);
    let (mut pending, mut next) = (Vec::new(), Next::Continue);
    if let Some(open) = open {
        let events = open.events().unwrap().unwrap();
        next = state.apply(&hub, &open, events, &mut pending);
    }
    let open_connection = hub.add_connection(CONNECTION, closes.clone());
    let session = Session {
        socket,
        state,
        inbox,
        client: app.clone(),
        hub: hub.clone(),
        ping_interval: Duration::from_secs(30),
        open: open_connection,
    };
    let session = tokio::spawn(session.run(pending, next));
    Harness {
        client,
        hub,
        closes,
        app,
        session,
    }
}

/// Publishes far more than the socket and the queues hold, then lets every task run until all
/// wait (the paused clock moves only then): the session is stuck on a write.
async fn flood(hub: &Hub) {
    let frame = "x".repeat(1024);
    for _ in 0..1000 {
        hub.publish(PublishItem::direct(CHANNEL.into(), frame.clone()));
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_is_dropped_after_the_send_timeout() {
    let harness = start(1024).await;
    let started = Instant::now();
    flood(&harness.hub).await;
    tokio::time::timeout(SEND_TIMEOUT * 3, harness.session)
        .await
        .expect("the session outlived its send timeout")
        .unwrap();
    assert!(started.elapsed() >= SEND_TIMEOUT, "{:?}", started.elapsed());
    assert_eq!(harness.hub.subscriber_count(CHANNEL), 0);
    assert_eq!(harness.app.kinds(), [EventKind::Disconnect]);
    drop(harness.client);
}

#[tokio::test(start_paused = true)]
async fn a_close_request_ends_the_session_at_once_while_a_write_is_blocked() {
    let harness = start(1024).await;
    flood(&harness.hub).await;
    assert!(!harness.session.is_finished());
    let asked = Instant::now();
    harness
        .closes
        .send(CloseRequest {
            // An application's own code, as an app's close control message carries.
            code: 4002,
            reason: "closed by the app".into(),
            after_queued: false,
        })
        .unwrap();
    // Far below SEND_TIMEOUT: the close must not wait for the blocked write.
    tokio::time::timeout(Duration::from_secs(1), harness.session)
        .await
        .expect("the close waited for the blocked write")
        .unwrap();
    assert!(asked.elapsed() < Duration::from_secs(1));
    assert_eq!(harness.hub.subscriber_count(CHANNEL), 0);
    assert_eq!(harness.app.kinds(), [EventKind::Disconnect]);
    drop(harness.client);
}

#[tokio::test(start_paused = true)]
async fn texts_go_to_the_app_and_a_clients_close_is_echoed() {
    let mut harness = start(64 * 1024).await;
    harness.client.send(Message::text("hello")).await.unwrap();
    let reply = harness.client.next().await.unwrap().unwrap();
    assert_eq!(reply, Message::text("echo:hello"));
    // A delivery from the hub reaches the client too.
    harness
        .hub
        .publish(PublishItem::direct(CHANNEL.into(), "pushed".into()));
    let pushed = harness.client.next().await.unwrap().unwrap();
    assert_eq!(pushed, Message::text("pushed"));
    let close = CloseFrame {
        code: CloseCode::from(4000),
        reason: "bye".into(),
    };
    harness
        .client
        .send(Message::Close(Some(close.clone())))
        .await
        .unwrap();
    let echoed = loop {
        match harness.client.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("no close echo: {other:?}"),
        }
    };
    assert_eq!(echoed.map(|f| u16::from(f.code)), Some(4000));
    harness.session.await.unwrap();
    assert_eq!(harness.hub.subscriber_count(CHANNEL), 0);
    assert_eq!(harness.app.kinds(), [EventKind::Text, EventKind::Close]);
}

/// The app's ping reaches the client, and the client's pong to it reaches the app (as Pushpin
/// relays it: the connection cap relies on that request); pongs nobody asked for do not, so a
/// client cannot turn a flood of them into app requests.
#[tokio::test(start_paused = true)]
async fn only_the_pong_to_the_apps_ping_goes_to_the_app() {
    let open = events_reply(
        &[Event::new(EventKind::Open), Event::new(EventKind::Ping)],
        &[],
    );
    let mut harness = start_after(64 * 1024, Some(open)).await;
    let ping = harness.client.next().await.unwrap().unwrap();
    assert_eq!(ping, Message::Ping(Vec::new().into()));
    for _ in 0..5 {
        harness
            .client
            .send(Message::Pong(b"unasked".to_vec().into()))
            .await
            .unwrap();
    }
    harness.client.send(Message::text("after")).await.unwrap();
    let echoed = harness.client.next().await.unwrap().unwrap();
    assert_eq!(echoed, Message::text("echo:after"));
    // One pong answers the ping (the client's WebSocket layer lets the first one sent stand for
    // the one it owed); the other four go nowhere.
    assert_eq!(harness.app.kinds(), [EventKind::Pong, EventKind::Text]);
}

/// Frames that arrived while the app was busy go in one request (as Pushpin sends them), in
/// order.
#[tokio::test(start_paused = true)]
async fn frames_already_received_go_to_the_app_in_one_request() {
    let mut harness = start(64 * 1024).await;
    for text in ["one", "two", "three"] {
        harness.client.send(Message::text(text)).await.unwrap();
    }
    let mut echoes = Vec::new();
    while echoes.len() < 3 {
        match harness.client.next().await {
            Some(Ok(Message::Text(text))) => echoes.push(text.to_string()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(echoes, ["echo:one", "echo:two", "echo:three"]);
    harness.client.send(Message::Close(None)).await.unwrap();
    while harness.client.next().await.is_some() {}
    harness.session.await.unwrap();
    let requests: Vec<Vec<EventKind>> = harness
        .app
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|events| events.iter().map(|e| e.kind).collect())
        .collect();
    assert_eq!(
        requests,
        [
            vec![EventKind::Text, EventKind::Text, EventKind::Text],
            vec![EventKind::Close]
        ]
    );
}

/// Found with the `Keep-Alive-Interval` properties (the header is read as any `u64`): the session
/// added the interval to its idle clock, which panics past what an `Instant` holds, so an app
/// asking for `u64::MAX` seconds killed the connection's task (with no DISCONNECT to the app and
/// the connection left in the hub). Such an interval now means no keep-alive.
#[tokio::test(start_paused = true)]
async fn a_keep_alive_interval_beyond_any_clock_means_none() {
    let open = events_reply(
        &[Event::new(EventKind::Open)],
        &[("keep-alive-interval", u64::MAX.to_string())],
    );
    let mut harness = start_after(64 * 1024, Some(open)).await;
    harness.client.send(Message::text("hello")).await.unwrap();
    let reply = harness.client.next().await;
    assert!(
        matches!(&reply, Some(Ok(m)) if *m == Message::text("echo:hello")),
        "{reply:?}"
    );
    harness.client.send(Message::Close(None)).await.unwrap();
    while harness.client.next().await.is_some() {}
    harness.session.await.expect("the session panicked");
    assert_eq!(harness.hub.subscriber_count(CHANNEL), 0);
}

mod props {
    //! Property tests (issue 21): what a session makes of the app's replies.
    use super::*;
    use grip::ControlMessage;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn state() -> ConnectionState {
        connection_state(hub::connection_queues().0)
    }

    fn event() -> impl Strategy<Value = Event> {
        let kind = proptest::sample::select(vec![
            EventKind::Open,
            EventKind::Text,
            EventKind::Binary,
            EventKind::Ping,
            EventKind::Pong,
            EventKind::Close,
            EventKind::Disconnect,
        ]);
        let content = prop_oneof![
            vec(any::<u8>(), 0..12),
            (
                proptest::sample::select(vec!["m:", "c:", ""]),
                vec(any::<u8>(), 0..12)
            )
                .prop_map(|(prefix, rest)| [prefix.as_bytes(), &rest].concat()),
            Just(
                ControlMessage::SetMeta {
                    name: "Color".into(),
                    value: "blue".into()
                }
                .to_event()
                .content
            ),
        ];
        (kind, content).prop_map(|(kind, content)| Event { kind, content })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any `Keep-Alive-Interval` the app sends (whole seconds, up to `u64::MAX`) is kept at
        /// one second at least, and the session's next keep-alive time never overflows the
        /// clock: too far to reach is never.
        #[test]
        fn prop_keep_alive_intervals_never_overflow_the_clock(seconds in prop_oneof![0u64..100, any::<u64>(), Just(u64::MAX)]) {
            let hub = Hub::default();
            let mut state = state();
            let next = state.apply(&hub, &events_reply(&[], &[("keep-alive-interval", seconds.to_string())]), Vec::new(), &mut Vec::new());
            prop_assert_eq!(next, Next::Continue);
            let interval = state.keep_alive.unwrap();
            prop_assert_eq!(interval, Duration::from_secs(seconds.max(1)));
            let now = Instant::now();
            prop_assert_eq!(keep_alive_deadline(now, state.keep_alive), now.checked_add(interval));
            prop_assert_eq!(keep_alive_deadline(now, None), None);
        }

        /// A reply's events become what the client gets, in order, up to the first CLOSE (its
        /// code and reason, 1000 without one) or DISCONNECT: `m:` messages as text (lossy when
        /// not UTF-8) or binary with the prefix removed, PING and PONG with their content; OPEN,
        /// control messages and unprefixed messages send nothing.
        #[test]
        fn prop_reply_events_reach_the_client_in_order(events in vec(event(), 0..10)) {
            let hub = Hub::default();
            let mut state = state();
            let mut outgoing = Vec::new();
            let next = state.apply(&hub, &events_reply(&[], &[]), events.clone(), &mut outgoing);
            let mut expected = Vec::new();
            let mut expected_next = Next::Continue;
            for event in &events {
                let message = event.content.strip_prefix(b"m:");
                match event.kind {
                    EventKind::Text => if let Some(m) = message {
                        expected.push(Message::text(String::from_utf8_lossy(m).into_owned()));
                    },
                    EventKind::Binary => if let Some(m) = message {
                        expected.push(Message::binary(m.to_vec()));
                    },
                    EventKind::Ping => expected.push(Message::Ping(event.content.clone().into())),
                    EventKind::Pong => expected.push(Message::Pong(event.content.clone().into())),
                    EventKind::Close => {
                        let (code, reason) = match event.content.as_slice() {
                            [high, low, reason @ ..] => (u16::from_be_bytes([*high, *low]), String::from_utf8_lossy(reason).into_owned()),
                            _ => (1000, String::new()),
                        };
                        expected_next = Next::Close(code, reason);
                        break;
                    }
                    EventKind::Disconnect => {
                        expected_next = Next::Drop;
                        break;
                    }
                    EventKind::Open => {}
                }
            }
            prop_assert_eq!(outgoing, expected);
            prop_assert_eq!(next, expected_next);
        }
    }
}

/// Every socket's pings fall on one whole-second grid, whenever it connected, and none comes
/// sooner than a full period after the handshake.
#[test]
fn pings_fall_on_a_shared_whole_second_grid() {
    let period = Duration::from_secs(30);
    for since_origin_ms in [0, 1, 250, 999, 1_000, 1_001, 86_399_999] {
        let since_origin = Duration::from_millis(since_origin_ms);
        let wait = until_first_ping(since_origin, period);
        assert_eq!(
            (since_origin + wait).subsec_nanos(),
            0,
            "at {since_origin_ms} ms"
        );
        assert!(wait >= period && wait < period + Duration::from_secs(1));
    }
}

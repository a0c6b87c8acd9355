use super::broadcast::constant_time_eq;
use super::connection::Connection;
use super::registry::STALE_AFTER_MS;
use super::request::query_param;
use super::*;
use crate::config::MAX_CONNECTIONS_PER_USER;
use crate::sql::{Rows, Sql, SqlError, SqlValue};
use crate::test_db::Db;
use protocol::grip::connection_channel;
use std::cell::{Cell, RefCell};

/// Services with a clock the test moves, tokens of the form `user:<id>` that never expire, and a
/// rate limiter that records every charge and allows `budget` units in all.
struct Fake {
    db: Db,
    now: Cell<i64>,
    epochs: Cell<u64>,
    charges: RefCell<Vec<(String, u32)>>,
    budget: Cell<u32>,
    /// Fails every statement on the connection registry, as a broken disk would.
    registry_broken: Cell<bool>,
    /// Fails every `COMMIT`, as a full disk would.
    commit_broken: Cell<bool>,
    /// Fails every statement on the rate states, as a database link cut mid-request would.
    rates_broken: Cell<bool>,
    /// Fails every statement, as a database out of reach would.
    database_down: Cell<bool>,
    /// `COMMIT`s executed.
    commits: Cell<usize>,
    /// A second connection to the database, to see whether the write lock is held.
    probe: rusqlite::Connection,
    /// Rate checks made while nobody held the database's write lock.
    unordered_checks: Cell<usize>,
}

impl Sql for Fake {
    fn execute(&self, statement: &str, parameters: &[SqlValue]) -> Result<Rows, SqlError> {
        if self.registry_broken.get() && statement.contains("connections") {
            return Err(SqlError::Io("disk I/O error (injected)".into()));
        }
        if self.database_down.get() {
            return Err(SqlError::Io("no route to host (injected)".into()));
        }
        if self.rates_broken.get() && statement.contains("rate_limits") {
            return Err(SqlError::Io(
                "the server did not answer in time (injected)".into(),
            ));
        }
        if statement == "COMMIT" {
            if self.commit_broken.get() {
                return Err(SqlError::Io("database or disk is full (injected)".into()));
            }
            self.commits.set(self.commits.get() + 1);
        }
        self.db.execute(statement, parameters)
    }
}

impl Fake {
    fn new(dir: &std::path::Path) -> Self {
        let probe = rusqlite::Connection::open(dir.join("sync.db")).unwrap();
        probe.busy_timeout(std::time::Duration::ZERO).unwrap();
        Fake {
            probe,
            unordered_checks: Cell::new(0),
            db: Db::open(&dir.join("sync.db")),
            now: Cell::new(1_000_000_000),
            epochs: Cell::new(0),
            charges: RefCell::default(),
            budget: Cell::new(u32::MAX),
            registry_broken: Cell::new(false),
            commit_broken: Cell::new(false),
            rates_broken: Cell::new(false),
            database_down: Cell::new(false),
            commits: Cell::new(0),
        }
    }

    /// The costs charged against `key`, in order.
    fn charged(&self, key: &str) -> Vec<u32> {
        self.charges
            .borrow()
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, cost)| *cost)
            .collect()
    }
}

impl Services for Fake {
    fn db(&self) -> &dyn Sql {
        self
    }
    fn verify_user(&self, token: &str) -> Result<Identity, String> {
        let user = token.strip_prefix("user:").ok_or("bad token")?;
        Ok(Identity {
            user_id: user.to_string(),
            expires_at: i64::MAX / 2,
        })
    }
    fn verify_broadcast(&self, _: &str) -> Result<(), String> {
        Err("not in this test".into())
    }
    fn rate_limit(
        &self,
        key: &str,
        _stored: Option<i64>,
        cost: u32,
    ) -> Result<RateVerdict, String> {
        // Another writer gets the lock: so would another instance's check of the same key.
        if self
            .probe
            .execute_batch("BEGIN IMMEDIATE; ROLLBACK")
            .is_ok()
        {
            self.unordered_checks.set(self.unordered_checks.get() + 1);
        }
        self.charges.borrow_mut().push((key.to_string(), cost));
        let allowed = cost <= self.budget.get();
        if allowed {
            self.budget.set(self.budget.get() - cost);
        }
        Ok(RateVerdict {
            decision: RateDecision {
                allowed,
                retry_after_ms: if allowed { 0 } else { 1_000 },
            },
            new_tat_us: allowed.then(|| self.now.get() * 1_000),
        })
    }
    fn now_ms(&self) -> i64 {
        self.now.get()
    }
    fn new_epoch(&self) -> String {
        self.epochs.set(self.epochs.get() + 1);
        format!("epoch-{}", self.epochs.get())
    }
}

/// A fresh database and fake services, and a coordinator over them (no trusted gateway).
struct Setup {
    _dir: tempfile::TempDir,
    fake: Fake,
    config: Config,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new(dir.path());
        let config =
            Config::from_variables(|name| (name == "grip_key").then(|| "k".repeat(32))).unwrap();
        Setup {
            _dir: dir,
            fake,
            config,
        }
    }

    fn coordinator(&self) -> Coordinator<'_> {
        Coordinator {
            services: &self.fake,
            config: &self.config,
            grip: None,
        }
    }
}

fn header_list(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn request(
    coordinator: &Coordinator<'_>,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Outcome {
    let headers = header_list(headers);
    coordinator.handle_ws(&WsRequest {
        query,
        headers: Headers(&headers),
        body,
    })
}

fn open_as(coordinator: &Coordinator<'_>, user: &str, connection_id: &str) -> Outcome {
    request(
        coordinator,
        &format!("userId={user}&token=user:{user}"),
        &[("connection-id", connection_id)],
        b"OPEN\r\n",
    )
}

fn open(coordinator: &Coordinator<'_>, connection_id: &str) -> Outcome {
    open_as(coordinator, "alice", connection_id)
}

/// One TEXT frame from alice's connection `c1` (authenticated by the token in the query).
fn frame(coordinator: &Coordinator<'_>, text: &str) -> Outcome {
    let body = ws_events::encode(&[Event::text(text)]);
    request(
        coordinator,
        "userId=alice&token=user:alice",
        &[("connection-id", "c1")],
        &body,
    )
}

/// `count` entries written for alice straight into the store.
fn store_entries(fake: &Fake, count: usize) {
    store::migrate(fake.db(), 0).unwrap();
    for n in 0..count {
        let text = format!(
            r#"{{"type":"ENTRY_CREATED","timestamp":"2026-01-01T00:00:00Z","entry":{{"id":"entry_{n}","updatedAt":"2026-01-01T00:00:00Z"}}}}"#
        );
        let ClientFrame::Mutation(mutation) = client_frame::parse(&text).unwrap() else {
            panic!("not a mutation");
        };
        store::apply(fake.db(), "alice", &mutation, "e", 0, 0).unwrap();
    }
}

fn texts(outcome: &Outcome) -> Vec<String> {
    ws_events::decode(&outcome.reply.body)
        .unwrap()
        .iter()
        .filter_map(|e| e.as_text().map(str::to_string))
        .collect()
}

fn closes(outcome: &Outcome) -> Vec<String> {
    outcome
        .publishes
        .iter()
        .filter(|p| p.formats.ws_message.as_ref().is_some_and(|m| m.is_close()))
        .map(|p| p.channel.clone())
        .collect()
}

#[test]
fn a_crashed_gateways_connections_expire_from_the_registry() {
    let setup = Setup::new();
    let (fake, coordinator) = (&setup.fake, setup.coordinator());
    for n in 0..MAX_CONNECTIONS_PER_USER {
        assert_eq!(open(&coordinator, &format!("c{n}")).reply.status, 200);
    }
    // Still fresh: one more closes the oldest with 4002.
    fake.now.set(fake.now.get() + 10_000);
    assert_eq!(
        closes(&open(&coordinator, "c10")),
        [connection_channel("alice", "c0")]
    );
    assert_eq!(
        coordinator.connections("alice").unwrap().len(),
        MAX_CONNECTIONS_PER_USER
    );
    // Nothing heard from any of them for three keep-alive intervals (their gateway died):
    // they no longer hold slots, and a new connection closes nobody.
    fake.now.set(fake.now.get() + STALE_AFTER_MS + 1);
    assert!(closes(&open(&coordinator, "fresh")).is_empty());
    assert_eq!(coordinator.connections("alice").unwrap(), ["fresh"]);
}

/// The close published for an evicted connection misses it when its own handshake is still in
/// flight; its next request (a frame or the gateway's keep-alive) closes it instead.
#[test]
fn an_evicted_connection_is_closed_on_its_next_request() {
    let setup = Setup::new();
    let coordinator = setup.coordinator();
    for n in 0..=MAX_CONNECTIONS_PER_USER {
        open(&coordinator, &format!("c{n}"));
    }
    let keep_alive = |id: &str| {
        request(
            &coordinator,
            "userId=alice&token=user:alice",
            &[("connection-id", id)],
            b"",
        )
    };
    let events = |outcome: &Outcome| ws_events::decode(&outcome.reply.body).unwrap();
    assert_eq!(
        events(&keep_alive("c0")),
        [Event::close(
            close::TOO_MANY_CONNECTIONS,
            close::REASON_TOO_MANY_CONNECTIONS
        )]
    );
    assert!(events(&keep_alive("c1")).is_empty());
}

/// Every OPEN reply ends with a WebSocket ping, so even a silent client makes one request after its
/// subscriptions exist: its pong. An eviction committed while the handshake was in flight closes
/// the connection there.
#[test]
fn the_pong_to_the_open_replys_ping_closes_a_connection_evicted_meanwhile() {
    let setup = Setup::new();
    let coordinator = setup.coordinator();
    let opened = ws_events::decode(&open(&coordinator, "c0").reply.body).unwrap();
    assert_eq!(opened.last(), Some(&Event::new(EventKind::Ping)));
    for n in 1..=MAX_CONNECTIONS_PER_USER {
        open(&coordinator, &format!("c{n}"));
    }
    let pong = |id: &str| {
        let body = ws_events::encode(&[Event::new(EventKind::Pong)]);
        let outcome = request(
            &coordinator,
            "userId=alice&token=user:alice",
            &[("connection-id", id)],
            &body,
        );
        ws_events::decode(&outcome.reply.body).unwrap()
    };
    assert_eq!(
        pong("c0"),
        [Event::close(
            close::TOO_MANY_CONNECTIONS,
            close::REASON_TOO_MANY_CONNECTIONS
        )]
    );
    assert!(pong("c1").is_empty());
}

/// A registry that cannot be read used to count as empty (and was then overwritten): now the
/// connection is refused, and the registry keeps what it had.
#[test]
fn an_unreadable_registry_refuses_the_connection() {
    let setup = Setup::new();
    let (fake, coordinator) = (&setup.fake, setup.coordinator());
    assert_eq!(open(&coordinator, "c0").reply.status, 200);
    fake.registry_broken.set(true);
    let refused = open(&coordinator, "c1");
    assert_eq!(refused.reply.status, 503);
    assert!(refused.publishes.is_empty());
    fake.registry_broken.set(false);
    assert_eq!(coordinator.connections("alice").unwrap(), ["c0"]);
}

/// Another user's connection id, sent with one's own valid token, reaches only one's own
/// channels: filling one's own registry behind it closes nobody else.
#[test]
fn a_connection_id_only_ever_names_a_connection_of_the_requests_user() {
    let setup = Setup::new();
    let coordinator = setup.coordinator();
    assert_eq!(open(&coordinator, "victim").reply.status, 200);
    let mut evicted = Vec::new();
    evicted.extend(closes(&open_as(&coordinator, "mallory", "victim")));
    for n in 0..MAX_CONNECTIONS_PER_USER {
        evicted.extend(closes(&open_as(&coordinator, "mallory", &format!("m{n}"))));
    }
    assert_eq!(evicted, [connection_channel("mallory", "victim")]);
    assert_eq!(coordinator.connections("alice").unwrap(), ["victim"]);
}

#[test]
fn an_open_without_a_user_or_token_is_a_400_and_registers_nothing() {
    let setup = Setup::new();
    let coordinator = setup.coordinator();
    let outcome = request(&coordinator, "userId=alice", &[], b"OPEN\r\n");
    assert_eq!(outcome.reply.status, 400);
    assert_eq!(
        String::from_utf8(outcome.reply.body).unwrap(),
        r#"{"error":"Missing userId or token"}"#
    );
    assert!(coordinator.connections("alice").unwrap().is_empty());
}

#[test]
fn two_origin_headers_are_refused_in_either_order() {
    let setup = Setup::new();
    let coordinator = setup.coordinator();
    let allowed = "http://localhost:5173";
    for origins in [
        [allowed, "https://evil.test"],
        ["https://evil.test", allowed],
    ] {
        let outcome = request(
            &coordinator,
            "userId=alice&token=user:alice",
            &[("origin", origins[0]), ("origin", origins[1])],
            b"OPEN\r\n",
        );
        assert_eq!(outcome.reply.status, 403);
    }
    let one = request(
        &coordinator,
        "userId=alice&token=user:alice",
        &[("origin", allowed)],
        b"OPEN\r\n",
    );
    assert_eq!(one.reply.status, 200);
}

#[test]
fn every_frame_type_is_charged_and_a_refused_ping_gets_an_error() {
    let setup = Setup::new();
    let (fake, coordinator) = (&setup.fake, setup.coordinator());
    let ts = r#""timestamp":"2026-01-01T00:00:00Z""#;
    for text in [
        format!(r#"{{"type":"PING",{ts}}}"#),
        format!(r#"{{"type":"SYNC_REQUEST",{ts},"lastSeq":0}}"#),
        format!(r#"{{"type":"BULK_SYNC",{ts}}}"#),
        format!(r#"{{"type":"AUTH",{ts},"token":"user:alice"}}"#),
    ] {
        frame(&coordinator, &text);
    }
    assert_eq!(fake.charged("messages:alice"), [1, 1, 1, 1]);
    fake.budget.set(0);
    let refused = texts(&frame(&coordinator, &format!(r#"{{"type":"PING",{ts}}}"#)));
    assert_eq!(refused.len(), 1);
    assert!(refused[0].contains("RATE_LIMITED") && !refused[0].contains("PONG"));
}

#[test]
fn a_large_catch_up_is_charged_by_its_size_and_withheld_when_refused() {
    let setup = Setup::new();
    let (fake, coordinator) = (&setup.fake, setup.coordinator());
    let ts = r#""timestamp":"2026-01-01T00:00:00Z""#;
    store_entries(fake, 250);
    let sync = format!(r#"{{"type":"SYNC_REQUEST",{ts},"lastSeq":0}}"#);
    let answered = texts(&frame(&coordinator, &sync));
    assert!(answered.last().unwrap().contains("Sync complete"));
    assert_eq!(fake.charged("messages:alice"), [1, 2]);
    // A small burst caps the size charge at what a full bucket holds after the request's unit.
    let mut small = Setup::new();
    small.config.rate_limit_burst = 2;
    store_entries(&small.fake, 250);
    small.fake.budget.set(2);
    let answered = texts(&frame(&small.coordinator(), &sync));
    assert!(answered.last().unwrap().contains("Sync complete"));
    assert_eq!(small.fake.charged("messages:alice"), [1, 1]);
    // One unit left: the request passes the gate, its size does not.
    fake.budget.set(1);
    let refused = frame(&coordinator, &sync);
    assert!(refused.publishes.is_empty());
    let refused = texts(&refused);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("RATE_LIMITED"));
}

#[test]
fn constant_time_comparison() {
    assert!(constant_time_eq(b"secret-value", b"secret-value"));
    assert!(!constant_time_eq(b"secret-valuf", b"secret-value"));
    assert!(!constant_time_eq(b"secret", b"secret-value"));
    assert!(!constant_time_eq(b"", b"x"));
    assert!(constant_time_eq(b"", b""));
}

#[test]
fn query_parameters_are_decoded() {
    assert_eq!(
        query_param("userId=u%201&token=a.b.c", "userId").as_deref(),
        Some("u 1")
    );
    assert_eq!(query_param("userId=&token=t", "userId"), None);
    assert_eq!(query_param("token=t", "userId"), None);
}

fn keep_alive_header(outcome: &Outcome) -> Option<u64> {
    outcome
        .reply
        .headers
        .iter()
        .find(|(name, _)| name == "keep-alive-interval")
        .and_then(|(_, value)| value.parse().ok())
}

/// An idle connection with a long-lived token costs one app request per 10 minutes once the
/// follow-up replay after OPEN is done: the handshake asks for the shortest interval (that replay
/// is due), a later keep-alive (an empty request) for the longest.
#[test]
fn an_idle_connection_is_kept_alive_every_ten_minutes() {
    let setup = Setup::new();
    let coordinator = setup.coordinator();
    assert_eq!(keep_alive_header(&open(&coordinator, "c1")), Some(20));
    setup.fake.now.set(setup.fake.now.get() + 20_000);
    let keep_alive = request(
        &coordinator,
        "userId=alice&token=user:alice",
        &[("connection-id", "c1")],
        b"",
    );
    assert_eq!(keep_alive_header(&keep_alive), Some(600));
}

/// Near the token's `exp` the next keep-alive is due when the connection next needs the app: the
/// warning 60 s before `exp`, then the close once the 60 s of grace after it are over.
#[test]
fn keep_alives_come_when_the_token_needs_them() {
    let exp = 10_000;
    let at = |warned: bool, now: i64| {
        Connection {
            token_expires_at: exp,
            warned,
            ..Connection::default()
        }
        .keep_alive_seconds(now, false)
    };
    assert_eq!(at(false, exp - 3600), 600, "at most 10 minutes");
    assert_eq!(at(false, exp - 360), 300, "the warning is due at exp - 60");
    assert_eq!(at(false, exp - 70), 20, "never under a gateway's minimum");
    assert_eq!(at(true, exp - 60), 121, "the close is due after exp + 60");
    assert_eq!(at(true, exp + 100), 20);
    let with_follow_up = Connection::default().keep_alive_seconds(exp - 3600, true);
    assert_eq!(
        with_follow_up, 20,
        "the follow-up replay is due within seconds"
    );
}

/// Several TEXT frames from alice's connection `c1` in one request, as Pushpin batches them.
fn frames(coordinator: &Coordinator<'_>, texts: &[String]) -> Outcome {
    let events: Vec<Event> = texts.iter().map(Event::text).collect();
    request(
        coordinator,
        "userId=alice&token=user:alice",
        &[("connection-id", "c1")],
        &ws_events::encode(&events),
    )
}

fn entry_created(id: &str) -> String {
    format!(
        r#"{{"type":"ENTRY_CREATED","timestamp":"2026-01-01T00:00:00Z","entry":{{"id":"{id}","updatedAt":"2026-01-01T00:00:00Z"}}}}"#
    )
}

fn parsed(outcome: &Outcome) -> Vec<serde_json::Value> {
    texts(outcome)
        .iter()
        .filter_map(|t| serde_json::from_str(t.strip_prefix("m:")?).ok())
        .collect()
}

/// The mutations of one request share a transaction; each is answered in order with dense seqs,
/// and a catch-up among them sees those before it.
#[test]
fn a_requests_mutations_commit_together_and_are_answered_in_order() {
    let setup = Setup::new();
    let coordinator = setup.coordinator();
    open(&coordinator, "c1");
    let sync_request =
        r#"{"type":"SYNC_REQUEST","timestamp":"2026-01-01T00:00:00Z","lastSeq":0}"#.to_string();
    let outcome = frames(
        &coordinator,
        &[
            entry_created("a"),
            entry_created("b"),
            sync_request,
            entry_created("c"),
        ],
    );
    let replies = parsed(&outcome);
    let kinds: Vec<&str> = replies
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "SYNC_RESPONSE",
            "SYNC_RESPONSE",
            "BULK_SYNC",
            "SYNC_RESPONSE",
            "SYNC_RESPONSE"
        ],
        "{replies:?}"
    );
    assert_eq!(replies[0]["streamSeq"], 1);
    assert_eq!(replies[1]["streamSeq"], 2);
    assert_eq!(replies[2]["entries"].as_array().unwrap().len(), 2);
    assert_eq!(replies[3]["lastSeq"], 2);
    assert_eq!(replies[4]["streamSeq"], 3);
    assert_eq!(outcome.publishes.len(), 3, "one relay per mutation");
    let stream = store::stream(setup.fake.db(), "alice").unwrap().unwrap();
    assert_eq!(stream.last_seq, 3);
}

/// A batch whose commit fails reports no mutation as applied and relays none; nothing is stored.
#[test]
fn a_batch_that_cannot_commit_answers_every_mutation_with_an_error() {
    let setup = Setup::new();
    let coordinator = setup.coordinator();
    open(&coordinator, "c1");
    setup.fake.commit_broken.set(true);
    let outcome = frames(&coordinator, &[entry_created("a"), entry_created("b")]);
    setup.fake.commit_broken.set(false);
    let replies = parsed(&outcome);
    assert_eq!(replies.len(), 2, "{replies:?}");
    for reply in &replies {
        assert_eq!(reply["type"], "ERROR");
        assert_eq!(reply["code"], protocol::error_code::WRITE_FAILED);
    }
    assert!(outcome.publishes.is_empty());
    let head = store::stream(setup.fake.db(), "alice")
        .unwrap()
        .map_or(0, |s| s.last_seq);
    assert_eq!(head, 0, "the batch's writes were rolled back");
}

/// Every frame of a batch that cannot commit is answered once, whatever its answer was: a charge
/// the database could not record, or one refused, keeps its `ERROR` (before, the failed commit
/// dropped those answers and a device whose write was in flight when its database link was cut
/// heard nothing), and a mutation's answer becomes one.
#[test]
fn a_batch_that_cannot_commit_still_answers_every_frame() {
    let setup = Setup::new();
    let (fake, coordinator) = (&setup.fake, setup.coordinator());
    open(&coordinator, "c1");
    let ts = r#""timestamp":"2026-01-01T00:00:00Z""#;
    let ping = format!(r#"{{"type":"PING",{ts}}}"#);
    fake.commit_broken.set(true);
    fake.rates_broken.set(true);
    let unrecorded = parsed(&frames(&coordinator, &[entry_created("a"), ping.clone()]));
    fake.rates_broken.set(false);
    fake.budget.set(1);
    let refused = parsed(&frames(
        &coordinator,
        &[entry_created("b"), entry_created("c")],
    ));
    fake.commit_broken.set(false);

    let codes = |replies: &[serde_json::Value]| -> Vec<String> {
        (replies.iter())
            .map(|r| format!("{} {}", r["type"], r["code"]).replace('"', ""))
            .collect()
    };
    assert_eq!(
        codes(&unrecorded),
        [
            "ERROR RATE_LIMITER_UNAVAILABLE",
            "ERROR RATE_LIMITER_UNAVAILABLE"
        ],
        "{unrecorded:?}"
    );
    assert_eq!(
        codes(&refused),
        ["ERROR WRITE_FAILED", "ERROR RATE_LIMITED"],
        "{refused:?}"
    );
}

/// With the database out of reach, a live connection's request is still answered, each frame with
/// an `ERROR`, and its socket stays open (before, the request failed with a 503, on which every
/// gateway drops the connection); a new connection is refused with the 503.
#[test]
fn a_database_out_of_reach_answers_each_frame_and_keeps_the_connection() {
    let setup = Setup::new();
    let (fake, coordinator) = (&setup.fake, setup.coordinator());
    open(&coordinator, "c1");
    fake.database_down.set(true);
    let ts = r#""timestamp":"2026-01-01T00:00:00Z""#;
    let outcome = frames(
        &coordinator,
        &[entry_created("a"), format!(r#"{{"type":"PING",{ts}}}"#)],
    );
    let refused_open = open(&coordinator, "c2");
    fake.database_down.set(false);

    assert_eq!(outcome.reply.status, 200);
    let events = ws_events::decode(&outcome.reply.body).unwrap();
    assert!(
        events.iter().all(|e| e.kind == EventKind::Text),
        "{events:?}"
    );
    let replies = parsed(&outcome);
    assert_eq!(replies.len(), 2, "{replies:?}");
    for reply in &replies {
        assert_eq!(reply["type"], "ERROR", "{reply}");
    }
    assert!(outcome.publishes.is_empty());
    assert_eq!(refused_open.reply.status, 503);
}

/// Three mutations in one request: one commit (so, with the host's group commit, at most one disk
/// flush) instead of three.
#[test]
fn three_mutations_in_one_request_are_one_commit() {
    let setup = Setup::new();
    let coordinator = setup.coordinator();
    open(&coordinator, "c1");
    let before = setup.fake.commits.get();
    let outcome = frames(
        &coordinator,
        &[entry_created("a"), entry_created("b"), entry_created("c")],
    );
    assert_eq!(parsed(&outcome).len(), 3);
    assert_eq!(setup.fake.commits.get() - before, 1);
}

/// A rate charge's state is kept in the database and written in the request's own transaction
/// (before, it was a key-value write of its own: on Spin a second commit per request). A request of
/// three mutations is one commit with its three charges stored; a refused charge stores nothing; a
/// charge outside a batch (a `PING`) commits by itself.
#[test]
fn rate_charges_are_stored_in_the_requests_own_transaction() {
    let setup = Setup::new();
    let (fake, coordinator) = (&setup.fake, setup.coordinator());
    open(&coordinator, "c1");
    let stored = || store::rate_limits::tat(fake.db(), "messages:alice").unwrap();
    assert_eq!(stored(), None);
    let before = fake.commits.get();
    frames(
        &coordinator,
        &[entry_created("a"), entry_created("b"), entry_created("c")],
    );
    assert_eq!(fake.commits.get() - before, 1);
    assert_eq!(stored(), Some(fake.now.get() * 1_000));
    fake.now.set(fake.now.get() + 7);
    let ts = r#""timestamp":"2026-01-01T00:00:00Z""#;
    frame(&coordinator, &format!(r#"{{"type":"PING",{ts}}}"#));
    assert_eq!(stored(), Some(fake.now.get() * 1_000));
    let charged = stored();
    fake.now.set(fake.now.get() + 7);
    fake.budget.set(0);
    frame(&coordinator, &format!(r#"{{"type":"PING",{ts}}}"#));
    assert_eq!(stored(), charged, "a refused charge changed the state");
}

/// A connect's charge commits with its registration: one write commit (beside the replay's read
/// transaction), the connect key's state stored and the connection registered. A refused connect
/// registers nobody and leaves the state as it was.
#[test]
fn a_connects_charge_and_registration_are_one_commit() {
    let setup = Setup::new();
    let (fake, coordinator) = (&setup.fake, setup.coordinator());
    let stored = || store::rate_limits::tat(fake.db(), "connect:alice").unwrap();
    store_entries(fake, 1);
    let before = fake.commits.get();
    assert_eq!(open(&coordinator, "c1").reply.status, 200);
    assert_eq!(fake.commits.get() - before, 2, "registration and replay");
    assert_eq!(stored(), Some(fake.now.get() * 1_000));
    let charged = stored();
    fake.now.set(fake.now.get() + 7);
    fake.budget.set(0);
    assert_eq!(open(&coordinator, "c2").reply.status, 429);
    assert_eq!(stored(), charged, "a refused connect changed the state");
    assert_eq!(
        store::connections::list(fake.db(), "alice").unwrap(),
        ["c1"]
    );
}

/// Every rate check, on connect, for one frame, within a batch and for a catch-up, runs under the
/// database's write lock, which every instance shares: checks of one key cannot interleave, so no
/// update of the limiter's state is lost and the limit holds exactly across instances.
#[test]
fn every_rate_check_holds_the_shared_write_lock() {
    let setup = Setup::new();
    let coordinator = setup.coordinator();
    store_entries(&setup.fake, 3);
    open(&coordinator, "c1");
    frame(
        &coordinator,
        r#"{"type":"PING","timestamp":"2026-01-01T00:00:00Z"}"#,
    );
    let batch = ws_events::encode(&[
        Event::text(r#"{"type":"PING","timestamp":"2026-01-01T00:00:00Z"}"#),
        Event::text(r#"{"type":"SYNC_REQUEST","lastSeq":0,"timestamp":"2026-01-01T00:00:00Z"}"#),
    ]);
    request(
        &coordinator,
        "userId=alice&token=user:alice",
        &[("connection-id", "c1")],
        &batch,
    );
    let checks = setup.fake.charges.borrow().len();
    assert!(
        checks >= 4,
        "connect, two pings and a catch-up: {checks} checks"
    );
    assert_eq!(setup.fake.unordered_checks.get(), 0, "of {checks} checks");
}

/// The entries of the reply's metrics header, in order; none without the header.
fn metrics(outcome: &Outcome) -> Vec<String> {
    outcome
        .reply
        .headers
        .iter()
        .filter(|(name, _)| name == protocol::app_metrics::HEADER)
        .flat_map(|(_, value)| value.split("; ").map(str::to_string))
        .collect()
}

/// What only the app knows reaches the host's metrics in the reply's metrics header.
#[test]
fn refusals_catch_up_sizes_and_closes_are_reported_to_the_host() {
    let setup = Setup::new();
    let (fake, coordinator) = (&setup.fake, setup.coordinator());
    let ts = r#""timestamp":"2026-01-01T00:00:00Z""#;
    store_entries(fake, 7);
    assert!(metrics(&open(&coordinator, "c1")).is_empty());
    let caught_up = frame(
        &coordinator,
        &format!(r#"{{"type":"SYNC_REQUEST",{ts},"lastSeq":2}}"#),
    );
    assert_eq!(metrics(&caught_up), ["catch_up_rows=5"]);
    fake.budget.set(0);
    let refused = frame(&coordinator, &format!(r#"{{"type":"PING",{ts}}}"#));
    assert_eq!(metrics(&refused), ["rate_limit_refusals_total=1"]);
    assert_eq!(
        metrics(&open(&coordinator, "c2")),
        ["rate_limit_refusals_total=1"],
        "a refused connect"
    );
    fake.budget.set(u32::MAX);
    for n in 0..MAX_CONNECTIONS_PER_USER {
        open(&coordinator, &format!("d{n}"));
    }
    let evicting = open(&coordinator, "last");
    assert!(
        metrics(&evicting).contains(&"closes_4002_total=1".to_string()),
        "{:?}",
        metrics(&evicting)
    );
}

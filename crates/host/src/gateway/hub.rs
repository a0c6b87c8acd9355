//! The hub: which connection is subscribed to which channel, and delivery of published items to
//! them — with Pushpin's `skip-self` filter and its `id`/`prev-id` sequencing (an item whose
//! `prev-id` is not the channel's last id waits for its predecessor, at most [`SEQUENCE_WAIT`]).
//! Connections are reached through a bounded queue each, so the hub never blocks on a slow socket;
//! closes go through a queue of their own, so a full frame queue can never swallow one.

use grip::{PublishItem, SKIP_SELF};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

/// How long an out-of-order item waits for its predecessor before it is delivered anyway.
pub const SEQUENCE_WAIT: Duration = Duration::from_secs(5);

/// How long the first item a channel sees waits for its predecessor. With no last id the hub
/// cannot tell a predecessor still on its way (two devices of a new user commit seq 1 and 2 at
/// once, and 2 is published first) from one delivered before the hub knew the channel. The race
/// between a commit and its publish is a few milliseconds; a missing predecessor costs this once.
pub const FIRST_ITEM_WAIT: Duration = Duration::from_millis(50);

/// How long a channel's sequencing state (its last id) outlives its last subscriber and its last
/// publish. Without it, a device that subscribes to a channel nobody was on takes the first item it
/// sees as in order, and an older item published a moment later (its request was slower) is then
/// delivered after it — a stale create after a delete. Kept, the older one comes first.
pub const SEQUENCE_LINGER: Duration = Duration::from_secs(60);

/// Messages queued per connection before the hub starts dropping that connection's deliveries.
pub const CONNECTION_QUEUE: usize = 256;

/// A close the app asked for (a publish with `"action":"close"`), or the drain's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseRequest {
    pub code: u16,
    pub reason: String,
    /// Whether the frames already queued for the client go first (the drain: an ack queued
    /// before the close still arrives), or the close does (the app's: it must not wait).
    pub after_queued: bool,
}

/// Where the hub hands a connection its deliveries.
#[derive(Clone)]
pub struct Outbox {
    /// Frames, bounded: when full, further frames for that connection are dropped (and logged).
    pub frames: mpsc::Sender<String>,
    /// Closes, unbounded: at most a few per connection, and never dropped.
    pub closes: mpsc::UnboundedSender<CloseRequest>,
}

/// The receiving ends of an [`Outbox`], held by the connection's session.
pub struct Inbox {
    pub frames: mpsc::Receiver<String>,
    pub closes: mpsc::UnboundedReceiver<CloseRequest>,
}

/// A connection's outbox and inbox, with [`CONNECTION_QUEUE`] frames of room.
pub fn connection_queues() -> (Outbox, Inbox) {
    let (frames_tx, frames) = mpsc::channel(CONNECTION_QUEUE);
    let (closes_tx, closes) = mpsc::unbounded_channel();
    (
        Outbox {
            frames: frames_tx,
            closes: closes_tx,
        },
        Inbox { frames, closes },
    )
}

struct Subscriber {
    outbox: Outbox,
    skip_self: bool,
}

#[derive(Default)]
struct Channel {
    subscribers: HashMap<String, Subscriber>,
    last_id: Option<String>,
    /// Items waiting for their predecessor, by `prev-id`.
    pending: BTreeMap<String, PublishItem>,
    /// The last subscribe or publish.
    active_at: Option<Instant>,
}

impl Channel {
    /// Whether the channel's state is still needed.
    fn live(&self, now: Instant) -> bool {
        !self.subscribers.is_empty()
            || !self.pending.is_empty()
            || self
                .active_at
                .is_some_and(|at| now.duration_since(at) < SEQUENCE_LINGER)
    }
}

#[derive(Default)]
struct State {
    channels: HashMap<String, Channel>,
    /// Each connection's `User` meta, compared with an item's `meta.sender` by `skip-self`.
    users: HashMap<String, String>,
    /// Every open connection's close queue, subscribed or not: what the drain closes.
    connections: HashMap<String, mpsc::UnboundedSender<CloseRequest>>,
}

/// A connection in the hub's registry of open ones; see `Hub::add_connection`.
pub struct OpenConnection {
    hub: Hub,
    id: String,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let mut state = self.hub.lock();
        if state.connections.remove(&self.id).is_some() && state.connections.is_empty() {
            self.hub.emptied.notify_waiters();
        }
    }
}

#[derive(Clone, Default)]
pub struct Hub {
    state: Arc<Mutex<State>>,
    /// Woken whenever the last connection is removed.
    emptied: Arc<Notify>,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::locks::lock(&self.state)
    }

    /// Records an open connection, so that the drain can close it, until the returned guard is
    /// dropped: its session holds it to the very end (close sent, DISCONNECT told), so that the
    /// drain, and with it the process, does not end before that.
    #[must_use]
    pub fn add_connection(
        &self,
        connection: &str,
        closes: mpsc::UnboundedSender<CloseRequest>,
    ) -> OpenConnection {
        self.lock()
            .connections
            .insert(connection.to_string(), closes);
        OpenConnection {
            hub: self.clone(),
            id: connection.to_string(),
        }
    }

    /// Every open connection's id and close queue.
    pub fn connections(&self) -> Vec<(String, mpsc::UnboundedSender<CloseRequest>)> {
        let state = self.lock();
        let open = state.connections.iter();
        open.map(|(id, closes)| (id.clone(), closes.clone()))
            .collect()
    }

    /// Resolves once no connection is open.
    pub async fn all_removed(&self) {
        loop {
            let emptied = self.emptied.notified();
            if self.lock().connections.is_empty() {
                return;
            }
            emptied.await;
        }
    }

    pub fn subscribe(&self, connection: &str, channel: &str, filters: &[String], outbox: Outbox) {
        let skip_self = filters.iter().any(|f| f == SKIP_SELF);
        let mut state = self.lock();
        let entry = state.channels.entry(channel.to_string()).or_default();
        entry.active_at = Some(Instant::now());
        entry
            .subscribers
            .insert(connection.to_string(), Subscriber { outbox, skip_self });
    }

    pub fn unsubscribe(&self, connection: &str, channel: &str) {
        let mut state = self.lock();
        if let Some(entry) = state.channels.get_mut(channel) {
            entry.subscribers.remove(connection);
        }
        prune(&mut state.channels);
    }

    /// Records the connection's `User` meta (what `skip-self` compares).
    pub fn set_user(&self, connection: &str, user: Option<&str>) {
        let mut state = self.lock();
        match user {
            Some(user) => state.users.insert(connection.to_string(), user.to_string()),
            None => state.users.remove(connection),
        };
    }

    /// Takes a connection off every channel: nothing more is relayed to it. It stays open (for
    /// the drain) until its `OpenConnection` is dropped.
    pub fn remove(&self, connection: &str) {
        let mut state = self.lock();
        state.users.remove(connection);
        for channel in state.channels.values_mut() {
            channel.subscribers.remove(connection);
        }
        prune(&mut state.channels);
    }

    #[cfg(test)]
    pub fn subscriber_count(&self, channel: &str) -> usize {
        self.lock()
            .channels
            .get(channel)
            .map_or(0, |c| c.subscribers.len())
    }

    /// Publishes one item: delivers it now, or holds it until its predecessor arrives (or
    /// [`SEQUENCE_WAIT`] passes). A sequenced item (one with an `id`) is tracked even on a channel
    /// nobody is subscribed to, for [`SEQUENCE_LINGER`] (Pushpin sequences only while someone is
    /// subscribed: `docs/gateways.md`).
    pub fn publish(&self, item: PublishItem) {
        let held = {
            let mut state = self.lock();
            let State {
                channels, users, ..
            } = &mut *state;
            let channel = match channels.get_mut(&item.channel) {
                Some(channel) => channel,
                None if item.id.is_some() => channels.entry(item.channel.clone()).or_default(),
                None => return,
            };
            channel.active_at = Some(Instant::now());
            let (in_order, wait) = match (&item.prev_id, &channel.last_id) {
                (Some(prev), Some(last)) => (prev == last, SEQUENCE_WAIT),
                (Some(_), None) => (false, FIRST_ITEM_WAIT),
                (None, _) => (true, SEQUENCE_WAIT),
            };
            if is_behind(item.id.as_deref(), channel.last_id.as_deref()) {
                // Its successors went out already: waiting cannot restore the order, and taking
                // it as the channel's last id would make every later item wait.
                tracing::warn!(channel = item.channel.as_str(), "delivering a late item");
                deliver(channel, users, &item);
                None
            } else if in_order {
                deliver_in_order(channel, users, &item);
                None
            } else {
                let key = item.prev_id.clone().unwrap_or_default();
                channel.pending.insert(key.clone(), item.clone());
                Some((item.channel.clone(), key, wait))
            }
        };
        if let Some((channel, key, wait)) = held {
            let hub = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                hub.release(&channel, &key);
            });
        }
    }

    /// Delivers a held item whose predecessor never came.
    fn release(&self, channel_name: &str, key: &str) {
        let mut state = self.lock();
        let State {
            channels, users, ..
        } = &mut *state;
        let Some(channel) = channels.get_mut(channel_name) else {
            return;
        };
        let Some(item) = channel.pending.remove(key) else {
            return;
        };
        tracing::warn!(
            channel = channel_name,
            "delivering an item whose predecessor never arrived"
        );
        // Older items still held go first: waits that end in the same instant are released in
        // no particular order, and an older item's wait never ends later than a newer one's.
        let mut older: Vec<PublishItem> = Vec::new();
        channel.pending.retain(|_, held| {
            let is_older = is_behind(held.id.as_deref(), item.id.as_deref());
            if is_older {
                older.push(held.clone());
            }
            !is_older
        });
        older.sort_by_key(|held| held.id.as_deref().and_then(|id| id.parse::<u64>().ok()));
        for held in older.iter().chain([&item]) {
            deliver_in_order(channel, users, held);
        }
    }
}

/// Forgets channels whose state is no longer needed.
fn prune(channels: &mut HashMap<String, Channel>) {
    let now = Instant::now();
    channels.retain(|_, channel| channel.live(now));
}

/// Delivers `item`, then every held item that was waiting for it, in turn.
fn deliver_in_order(channel: &mut Channel, users: &HashMap<String, String>, item: &PublishItem) {
    deliver(channel, users, item);
    while let Some(next) = channel
        .last_id
        .clone()
        .and_then(|last| channel.pending.remove(&last))
    {
        deliver(channel, users, &next);
    }
}

/// Whether `id` comes before `last`: ids are opaque to GRIP, but when both are numbers (this app's
/// seqs) their order is known.
fn is_behind(id: Option<&str>, last: Option<&str>) -> bool {
    let number = |id: Option<&str>| id.and_then(|id| id.parse::<u64>().ok());
    matches!((number(id), number(last)), (Some(id), Some(last)) if id <= last)
}

fn deliver(channel: &mut Channel, users: &HashMap<String, String>, item: &PublishItem) {
    if item.id.is_some() && !is_behind(item.id.as_deref(), channel.last_id.as_deref()) {
        channel.last_id = item.id.clone();
    }
    let Some(message) = &item.formats.ws_message else {
        return;
    };
    let sender = item.meta.get("sender");
    let receivers = channel
        .subscribers
        .iter()
        .filter(|(connection, subscriber)| {
            !(subscriber.skip_self && sender.is_some() && users.get(*connection) == sender)
        });
    if message.is_close() {
        let close = CloseRequest {
            code: message.code.unwrap_or(1000),
            reason: message.reason.clone().unwrap_or_default(),
            after_queued: false,
        };
        for (_, subscriber) in receivers {
            // Fails only when the session has ended already.
            let _ = subscriber.outbox.closes.send(close.clone());
        }
    } else if let Some(content) = &message.content {
        for (connection, subscriber) in receivers {
            if subscriber.outbox.frames.try_send(content.clone()).is_err() {
                tracing::warn!(
                    connection = connection.as_str(),
                    "delivery dropped: connection queue full or closed"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;

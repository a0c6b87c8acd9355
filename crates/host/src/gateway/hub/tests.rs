use super::*;

fn connection(hub: &Hub, id: &str, user_meta: &str, channel: &str) -> Inbox {
    let (outbox, inbox) = connection_queues();
    hub.set_user(id, Some(user_meta));
    hub.subscribe(id, channel, &[SKIP_SELF.to_string()], outbox);
    inbox
}

fn texts(inbox: &mut Inbox) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(text) = inbox.frames.try_recv() {
        out.push(text);
    }
    out
}

#[tokio::test]
async fn skip_self_keeps_the_relay_from_the_sender() {
    let hub = Hub::default();
    let mut a = connection(&hub, "a", "a", "user:u");
    let mut b = connection(&hub, "b", "b", "user:u");
    let mut other = connection(&hub, "c", "c", "user:v");
    hub.publish(PublishItem::relay(
        "user:u".into(),
        1,
        Some("a"),
        "one".into(),
    ));
    assert_eq!(texts(&mut a), Vec::<String>::new());
    assert_eq!(texts(&mut b), ["one"]);
    assert_eq!(texts(&mut other), Vec::<String>::new());
    // Without a sender (a broadcast) every connection gets it.
    hub.publish(PublishItem::relay("user:u".into(), 2, None, "two".into()));
    assert_eq!(
        (texts(&mut a), texts(&mut b)),
        (vec!["two".to_string()], vec!["two".to_string()])
    );
}

#[tokio::test]
async fn out_of_order_items_wait_for_their_predecessor() {
    let hub = Hub::default();
    let mut b = connection(&hub, "b", "b", "user:u");
    hub.publish(PublishItem::relay("user:u".into(), 1, None, "1".into()));
    hub.publish(PublishItem::relay("user:u".into(), 3, None, "3".into()));
    hub.publish(PublishItem::relay("user:u".into(), 4, None, "4".into()));
    assert_eq!(texts(&mut b), ["1"]);
    hub.publish(PublishItem::relay("user:u".into(), 2, None, "2".into()));
    assert_eq!(texts(&mut b), ["2", "3", "4"]);
}

#[tokio::test(start_paused = true)]
async fn a_gap_that_never_fills_is_delivered_after_the_wait() {
    let hub = Hub::default();
    let mut b = connection(&hub, "b", "b", "user:u");
    hub.publish(PublishItem::relay("user:u".into(), 1, None, "1".into()));
    hub.publish(PublishItem::relay("user:u".into(), 3, None, "3".into()));
    assert_eq!(texts(&mut b), ["1"]);
    tokio::time::sleep(SEQUENCE_WAIT + Duration::from_millis(10)).await;
    assert_eq!(texts(&mut b), ["3"]);
}

#[tokio::test]
async fn close_items_and_removal() {
    let hub = Hub::default();
    let mut a = connection(&hub, "a", "a", "connection:a");
    hub.publish(PublishItem::close("connection:a".into(), 4002, "replaced"));
    assert_eq!(
        a.closes.try_recv().unwrap(),
        CloseRequest {
            code: 4002,
            reason: "replaced".into(),
            after_queued: false,
        }
    );
    hub.remove("a");
    assert_eq!(hub.subscriber_count("connection:a"), 0);
}

#[tokio::test]
async fn an_older_item_published_late_still_comes_first_on_a_channel_nobody_was_on() {
    let hub = Hub::default();
    // Seq 1 went out while no device was subscribed; seq 2's publish is slow, 3's is fast.
    hub.publish(PublishItem::relay("user:u".into(), 1, None, "1".into()));
    let mut b = connection(&hub, "b", "b", "user:u");
    hub.publish(PublishItem::relay("user:u".into(), 3, None, "3".into()));
    hub.publish(PublishItem::relay("user:u".into(), 2, None, "2".into()));
    assert_eq!(texts(&mut b), ["2", "3"]);
}

/// A new user's two devices write at once and seq 2's publish beats seq 1's: seq 2 waits for
/// seq 1 (briefly: the channel has no last id yet), and nothing stalls after it.
#[tokio::test(start_paused = true)]
async fn a_new_channels_items_go_out_in_seq_order_from_the_first() {
    let hub = Hub::default();
    let mut b = connection(&hub, "b", "b", "user:u");
    hub.publish(PublishItem::relay("user:u".into(), 2, None, "2".into()));
    assert_eq!(texts(&mut b), Vec::<String>::new());
    hub.publish(PublishItem::relay("user:u".into(), 1, None, "1".into()));
    hub.publish(PublishItem::relay("user:u".into(), 3, None, "3".into()));
    assert_eq!(texts(&mut b), ["1", "2", "3"]);
}

/// The first item after a restart names a predecessor delivered before it: it goes out after
/// [`FIRST_ITEM_WAIT`], and later items follow it at once.
#[tokio::test(start_paused = true)]
async fn a_first_item_whose_predecessor_went_out_before_waits_only_briefly() {
    let hub = Hub::default();
    let mut b = connection(&hub, "b", "b", "user:u");
    hub.publish(PublishItem::relay("user:u".into(), 41, None, "41".into()));
    tokio::time::sleep(FIRST_ITEM_WAIT + Duration::from_millis(1)).await;
    assert_eq!(texts(&mut b), ["41"]);
    hub.publish(PublishItem::relay("user:u".into(), 42, None, "42".into()));
    assert_eq!(texts(&mut b), ["42"]);
}

/// An item whose successor went out already (its publish was slower than the wait) is
/// delivered at once and does not rewind the channel: the items after it are not held.
#[tokio::test(start_paused = true)]
async fn a_late_item_does_not_stall_the_channel() {
    let hub = Hub::default();
    let mut b = connection(&hub, "b", "b", "user:u");
    hub.publish(PublishItem::relay("user:u".into(), 1, None, "1".into()));
    hub.publish(PublishItem::relay("user:u".into(), 3, None, "3".into()));
    tokio::time::sleep(SEQUENCE_WAIT + Duration::from_millis(1)).await;
    assert_eq!(texts(&mut b), ["1", "3"]);
    hub.publish(PublishItem::relay("user:u".into(), 2, None, "2".into()));
    hub.publish(PublishItem::relay("user:u".into(), 4, None, "4".into()));
    assert_eq!(texts(&mut b), ["2", "4"]);
}

/// Items held on a new channel whose waits end in the same instant go out oldest first.
#[tokio::test(start_paused = true)]
async fn held_items_released_together_go_out_in_order() {
    let hub = Hub::default();
    let mut b = connection(&hub, "b", "b", "user:u");
    for seq in [3, 2] {
        hub.publish(PublishItem::relay(
            "user:u".into(),
            seq,
            None,
            seq.to_string(),
        ));
    }
    // Releasing 3's wait first (as the timers may) must still deliver 2 before it.
    hub.release("user:u", "2");
    assert_eq!(texts(&mut b), ["2", "3"]);
}

#[tokio::test]
async fn a_full_frame_queue_never_swallows_a_close() {
    let hub = Hub::default();
    let mut a = connection(&hub, "a", "a", "connection:a");
    for n in 0..CONNECTION_QUEUE + 10 {
        hub.publish(PublishItem::direct("connection:a".into(), n.to_string()));
    }
    hub.publish(PublishItem::close(
        "connection:a".into(),
        4002,
        "too many connections",
    ));
    assert_eq!(texts(&mut a).len(), CONNECTION_QUEUE);
    assert_eq!(a.closes.try_recv().unwrap().code, 4002);
}

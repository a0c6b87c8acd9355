use super::{Flow, Front, strip_hop_by_hop};
use hyper::HeaderMap;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;
use tokio::sync::watch;

fn front() -> Front {
    Front {
        client: Client::builder(TokioExecutor::new()).build_http(),
        upstream: "127.0.0.1:9".parse().unwrap(),
        flow: watch::Sender::new(Flow::default()),
        hold: Duration::from_secs(30),
    }
}

#[tokio::test(start_paused = true)]
async fn a_hold_is_reported_once_the_requests_in_flight_are_done_and_new_ones_wait_for_release() {
    let front = front();
    let in_flight = front.enter().await;
    let mut holding = Box::pin(front.hold_all());
    assert!(
        tokio::time::timeout(Duration::from_secs(5), &mut holding)
            .await
            .is_err(),
        "held while a request was still upstream"
    );
    drop(in_flight);
    holding.await;
    let mut waiting = Box::pin(front.enter());
    assert!(
        tokio::time::timeout(Duration::from_secs(5), &mut waiting)
            .await
            .is_err(),
        "a request went upstream while held"
    );
    front.release();
    let _entered = waiting.await;
    assert_eq!(front.flow.borrow().in_flight, 1);
}

#[test]
fn headers_of_one_connection_are_not_forwarded() {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("connection", "keep-alive, x-hop"),
        ("keep-alive", "timeout=5"),
        ("x-hop", "1"),
        ("transfer-encoding", "chunked"),
        ("content-type", "application/websocket-events"),
        ("connection-id", "abc"),
    ] {
        headers.insert(name, value.parse().unwrap());
    }
    strip_hop_by_hop(&mut headers);
    let mut left: Vec<&str> = headers.keys().map(|name| name.as_str()).collect();
    left.sort();
    assert_eq!(left, ["connection-id", "content-type"]);
}

use super::*;
use crate::durability::group_commit::gated::gated;
use http_body_util::{Empty, Full};
use std::task::Poll;

/// Records that it was called; answers 200.
struct Recorder(Arc<std::sync::atomic::AtomicBool>, SocketAddr);

impl LocalEndpoint for Recorder {
    fn address(&self) -> SocketAddr {
        self.1
    }
    fn handle(
        &self,
        _request: http::Request<WasiBody>,
    ) -> Pin<Box<dyn Future<Output = http::Response<WasiBody>> + Send>> {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async {
            http::Response::new(
                Full::new(bytes::Bytes::from_static(b"Published\n"))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
        })
    }
}

/// A publish made after a commit leaves only once that commit is on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbound_request_waits_for_the_instances_commits_to_be_flushed() {
    let address: SocketAddr = "127.0.0.1:5561".parse().unwrap();
    let called = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let local = LocalEndpointSlot::default();
    let _ = local.set(Arc::new(Recorder(called.clone(), address)));
    let (group, _, permit) = gated();
    let pending = Arc::new(PendingSync::default());
    pending.record(&group, group.committed());
    let mut hooks = OutboundHooks {
        allowed: Arc::new(AllowedHosts::parse(["http://127.0.0.1:5561"]).unwrap()),
        local,
        pending,
    };
    let request = http::Request::post("http://127.0.0.1:5561/publish/")
        .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
        .unwrap();
    let mut sent = Box::into_pin(hooks.send_request(request, None, Box::new(async { Ok(()) })));
    // One poll goes as far as the request can without the flush.
    let first = std::future::poll_fn(|cx| Poll::Ready(sent.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "answered before the flush");
    assert!(
        !called.load(std::sync::atomic::Ordering::SeqCst),
        "sent before the flush"
    );
    permit.send(()).unwrap();
    let (response, _) = sent.await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(called.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn only_the_listening_address_itself_is_local() {
    let loopback = "127.0.0.1:5561".parse().unwrap();
    assert!(is_local(loopback, "127.0.0.1", 5561));
    assert!(is_local(loopback, "localhost", 5561));
    assert!(!is_local(loopback, "127.0.0.1", 5562));
    assert!(!is_local(loopback, "127.0.0.2", 5561));
    assert!(!is_local(loopback, "example.com", 5561));
    let everywhere = "0.0.0.0:5561".parse().unwrap();
    assert!(is_local(everywhere, "127.0.0.1", 5561));
    assert!(!is_local(everywhere, "192.0.2.1", 5561));
    assert!(is_local("[::1]:5561".parse().unwrap(), "[::1]", 5561));
}

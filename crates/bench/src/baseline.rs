//! The floors the service is measured against, in this process: a native WebSocket broadcast
//! server doing the relay fan-out with no persistence, and a native hyper handler answering
//! `/health` with the same JSON.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

type Peers = Arc<Mutex<HashMap<String, Vec<(u64, mpsc::UnboundedSender<Message>)>>>>;

/// Starts the broadcast server on a loopback port; returns its `ws://` address. It answers like
/// the service where the bench looks: `WELCOME` on connect, `SYNC_RESPONSE` acks, relays to the
/// user's other connections carrying the entry and a per-user seq.
pub async fn start_broadcast_server() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let peers: Peers = Arc::default();
    let seqs: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let next_id = Arc::new(AtomicU64::new(1));
    #[allow(clippy::result_large_err)] // the handshake callback's signature is tungstenite's
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (peers, seqs, next_id) = (peers.clone(), seqs.clone(), next_id.clone());
            tokio::spawn(async move {
                let mut user = String::new();
                let capture = |request: &Request, response: Response| {
                    user = request
                        .uri()
                        .query()
                        .unwrap_or_default()
                        .split('&')
                        .find_map(|pair| pair.strip_prefix("userId="))
                        .unwrap_or_default()
                        .to_string();
                    Ok(response)
                };
                let Ok(socket) = tokio_tungstenite::accept_hdr_async(stream, capture).await else {
                    return;
                };
                serve(
                    socket,
                    user,
                    next_id.fetch_add(1, Ordering::Relaxed),
                    peers,
                    seqs,
                )
                .await;
            });
        }
    });
    Ok(format!("ws://{address}"))
}

async fn serve(
    socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    user: String,
    id: u64,
    peers: Peers,
    seqs: Arc<Mutex<HashMap<String, u64>>>,
) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let welcome = json!({"type": "WELCOME", "connectionId": id.to_string(), "headSeq": 0});
    let _ = tx.send(Message::text(welcome.to_string()));
    peers
        .lock()
        .unwrap()
        .entry(user.clone())
        .or_default()
        .push((id, tx.clone()));
    let writer = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let seq = {
            let mut seqs = seqs.lock().unwrap();
            let seq = seqs.entry(user.clone()).or_default();
            *seq += 1;
            *seq
        };
        let ack = json!({"type": "SYNC_RESPONSE", "message": "Mutation applied", "streamSeq": seq});
        let _ = tx.send(Message::text(ack.to_string()));
        let relay =
            json!({"type": frame["type"], "entry": frame["entry"], "streamSeq": seq}).to_string();
        for (peer, peer_tx) in peers.lock().unwrap().get(&user).into_iter().flatten() {
            if *peer != id {
                let _ = peer_tx.send(Message::text(relay.clone()));
            }
        }
    }
    peers
        .lock()
        .unwrap()
        .entry(user)
        .or_default()
        .retain(|(peer, _)| *peer != id);
    writer.abort();
}

/// Starts a native hyper server answering every request with `body` as JSON; returns its URL.
pub async fn start_json_server(body: String) -> anyhow::Result<String> {
    use http_body_util::Full;
    use hyper::server::conn::http1;
    use hyper_util::rt::TokioIo;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let body = bytes::Bytes::from(body);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    let body = body.clone();
                    async move {
                        hyper::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(body))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(format!("http://{address}"))
}

//! The writing half of a client socket, in a task of its own, so a client that stops reading
//! blocks only this task — never the session, which keeps handling closes, pings and the app.
//!
//! The session hands frames over through a small bounded queue and keeps any overflow in a
//! backlog; while the backlog is not empty it stops taking new work (client frames, hub
//! deliveries), so what one connection holds stays bounded. A write that finds no room for
//! [`SEND_TIMEOUT`] ends the writer (the session then drops the connection); a close the hub asks
//! for goes ahead of everything queued and, when the socket has no room for it, drops the TCP
//! connection at once.

use super::fragments::fragments;
use futures_util::stream::SplitSink;
use futures_util::{FutureExt, SinkExt};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// How long one write may wait for room in the client's socket: a client that reads nothing for
/// this long is dropped, so it cannot hold the connection (and its queued frames) forever. Also
/// how long a closing connection may take to write out what is queued.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Frames handed to the writer before the session keeps further ones in its backlog.
const WRITER_QUEUE: usize = 32;

enum Command {
    Send(Message),
    /// The last command: a close frame after everything queued (`None` flushes a close handshake
    /// the client started: tungstenite queued the echo when it read the client's close).
    Close(Option<CloseFrame>),
}

/// How a connection's socket is to end.
#[derive(Debug)]
pub enum Ending {
    /// After what is queued, with this close frame.
    Close(Option<CloseFrame>),
    /// At once, ahead of anything queued: the close frame if the socket has room, else nothing.
    CloseNow(CloseFrame),
    /// At once, without a close frame.
    Drop,
}

/// The session's end of the writer.
pub struct Outgoing {
    queue: mpsc::Sender<Command>,
    backlog: VecDeque<Message>,
    urgent: Option<oneshot::Sender<Option<CloseFrame>>>,
    task: JoinHandle<()>,
}

impl Outgoing {
    /// Starts the writer task on `sink`. The receiver resolves when the task ends (its sender is
    /// dropped then): before the session asks it to, that means the client stopped reading or the
    /// socket failed.
    pub fn spawn<S>(sink: SplitSink<WebSocketStream<S>, Message>) -> (Self, oneshot::Receiver<()>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (queue, commands) = mpsc::channel(WRITER_QUEUE);
        let (urgent, urgent_rx) = oneshot::channel();
        let (ended_tx, ended) = oneshot::channel();
        let task = tokio::spawn(async move {
            if let Err(why) = write(sink, commands, urgent_rx).await {
                tracing::debug!("client socket writer ended: {why}");
            }
            drop(ended_tx);
        });
        let outgoing = Self {
            queue,
            backlog: VecDeque::new(),
            urgent: Some(urgent),
            task,
        };
        (outgoing, ended)
    }

    /// Whether the session may take more work: nothing is waiting for room in the writer's queue.
    pub fn has_room(&self) -> bool {
        self.backlog.is_empty()
    }

    /// Queues a frame (in the backlog when the writer's queue is full).
    pub fn push(&mut self, message: Message) {
        self.backlog.push_back(message);
        self.move_backlog();
    }

    /// Moves backlog frames into the writer's queue while it has room.
    pub fn move_backlog(&mut self) {
        while let Some(message) = self.backlog.pop_front() {
            match self.queue.try_send(Command::Send(message)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(Command::Send(message))) => {
                    self.backlog.push_front(message);
                    return;
                }
                // The writer has ended; `ended` tells the session.
                Err(_) => {
                    self.backlog.clear();
                    return;
                }
            }
        }
    }

    /// Resolves when the writer's queue has room again (or the writer has ended).
    pub async fn wait_for_room(&self) {
        if let Ok(permit) = self.queue.reserve().await {
            drop(permit);
        }
    }

    /// Ends the socket as `ending` says and waits (bounded) for the writer to finish.
    pub async fn finish(mut self, ending: Ending) {
        match ending {
            Ending::Close(frame) => {
                let queue = self.queue.clone();
                let backlog = std::mem::take(&mut self.backlog);
                let handed_over = tokio::time::timeout(SEND_TIMEOUT, async move {
                    for message in backlog {
                        queue.send(Command::Send(message)).await?;
                    }
                    queue.send(Command::Close(frame)).await
                })
                .await;
                if !matches!(handed_over, Ok(Ok(()))) {
                    self.urgent(None);
                }
            }
            Ending::CloseNow(frame) => self.urgent(Some(frame)),
            Ending::Drop => self.urgent(None),
        }
        if tokio::time::timeout(SEND_TIMEOUT, &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }

    fn urgent(&mut self, frame: Option<CloseFrame>) {
        if let Some(urgent) = self.urgent.take() {
            let _ = urgent.send(frame);
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("the client read nothing for {SEND_TIMEOUT:?}")]
    Stalled,
    #[error(transparent)]
    Socket(#[from] tokio_tungstenite::tungstenite::Error),
}

/// The writer task: commands in order, until a close, an urgent close, or a failure.
async fn write<S>(
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    mut commands: mpsc::Receiver<Command>,
    mut urgent: oneshot::Receiver<Option<CloseFrame>>,
) -> Result<(), WriteError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The session keeps its sender until the writer is done; a dropped one means the session is
    // gone, and so is the reason to write.
    loop {
        let command = tokio::select! {
            biased;
            frame = &mut urgent => {
                close_now(&mut sink, frame.ok().flatten());
                return Ok(());
            }
            command = commands.recv() => command,
        };
        match command {
            None => return Ok(()),
            Some(Command::Send(message)) => {
                for part in fragments(message) {
                    tokio::select! {
                        biased;
                        // The write in progress is abandoned: the close cannot wait for the
                        // client (RFC 6455 lets a close come between a message's fragments).
                        frame = &mut urgent => {
                            close_now(&mut sink, frame.ok().flatten());
                            return Ok(());
                        }
                        sent = tokio::time::timeout(SEND_TIMEOUT, sink.send(part)) => match sent {
                            Ok(result) => result?,
                            Err(_) => return Err(WriteError::Stalled),
                        },
                    }
                }
            }
            Some(Command::Close(frame)) => {
                let closing = async {
                    match frame {
                        Some(frame) => sink.send(Message::Close(Some(frame))).await,
                        // tungstenite refuses to send after the client's close; a flush writes
                        // the echo it queued.
                        None => sink.flush().await,
                    }
                };
                return match tokio::time::timeout(SEND_TIMEOUT, closing).await {
                    Ok(Ok(()) | Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed)) => {
                        Ok(())
                    }
                    Ok(Err(error)) => Err(error.into()),
                    Err(_) => Err(WriteError::Stalled),
                };
            }
        }
    }
}

/// Writes `frame` only if the socket takes it without waiting; the caller then drops the sink.
fn close_now<S>(sink: &mut SplitSink<WebSocketStream<S>, Message>, frame: Option<CloseFrame>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(frame) = frame {
        let _ = sink.send(Message::Close(Some(frame))).now_or_never();
    }
}

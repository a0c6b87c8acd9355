//! Holding a response until what the request committed is on disk: the commits a request made are
//! recorded as tickets ([`PendingSync`]), the response head waits for them, and so does every body
//! frame the guest writes after further commits ([`DurableBody`]). No byte of an answer leaves the
//! host before the writes it may report are durable.

use crate::durability::group_commit::{FlushFailed, GroupSync, Ticket};
use crate::locks::lock;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use wasmtime_wasi_http::Error as ErrorCode;

/// The newest commit ticket a request holds on each database it wrote to.
#[derive(Default)]
pub struct PendingSync {
    tickets: Mutex<Vec<(Arc<GroupSync>, Ticket)>>,
}

impl PendingSync {
    pub fn record(&self, group: &Arc<GroupSync>, ticket: Ticket) {
        let mut tickets = lock(&self.tickets);
        match tickets.iter_mut().find(|(g, _)| Arc::ptr_eq(g, group)) {
            Some((_, held)) => *held = ticket,
            None => tickets.push((group.clone(), ticket)),
        }
    }

    /// Waits until every commit recorded so far is on disk.
    pub async fn wait(&self) -> Result<(), FlushFailed> {
        let tickets = std::mem::take(&mut *lock(&self.tickets));
        for (group, ticket) in tickets {
            group.synced(ticket).await?;
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        lock(&self.tickets).is_empty()
    }
}

type Waiting = Pin<Box<dyn Future<Output = Result<(), FlushFailed>> + Send>>;

/// A response body whose frames wait for the commits made before they were written.
pub struct DurableBody<B> {
    inner: B,
    pending: Arc<PendingSync>,
    held: Option<(Frame<Bytes>, Waiting)>,
}

impl<B> DurableBody<B> {
    pub fn new(inner: B, pending: Arc<PendingSync>) -> Self {
        Self {
            inner,
            pending,
            held: None,
        }
    }
}

impl<B> Body for DurableBody<B>
where
    B: Body<Data = Bytes, Error = ErrorCode> + Unpin,
{
    type Data = Bytes;
    type Error = ErrorCode;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ErrorCode>>> {
        let this = &mut *self;
        if let Some((_, waiting)) = &mut this.held {
            let synced = ready!(waiting.as_mut().poll(cx));
            let (frame, _) = this.held.take().expect("held");
            return Poll::Ready(Some(synced.map(|()| frame).map_err(|error| {
                ErrorCode::InternalError(Some(format!("not durable: {error}")))
            })));
        }
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) if !this.pending.is_empty() => {
                let pending = this.pending.clone();
                this.held = Some((frame, Box::pin(async move { pending.wait().await })));
                self.poll_frame(cx)
            }
            other => Poll::Ready(other),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

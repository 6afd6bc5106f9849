//! A bound on the request bytes in flight, across every call.
//!
//! The call count is bounded by the service (`max_pending`), but one call may carry up to
//! `max_message_bytes`, and tonic buffers a whole message before a handler sees it. So
//! [`BudgetLayer`] reads the gRPC framing of every `neardup.v1.NearDup` request body as it
//! arrives: as soon as a message's 5-byte prefix announces its length, that many bytes
//! are taken from one shared [`ByteBudget`], before the message itself is buffered. If
//! the budget cannot cover it, the body fails with RESOURCE_EXHAUSTED
//! ([`ServiceError::InflightBytes`]) and the rest of the message is never read.
//!
//! A unary call holds its bytes until its handler has answered (the decoded request
//! lives that long). A streaming call holds each message's bytes until its handler
//! calls [`CallBytes::release_oldest`] for it, or until the call ends. Memory use is then
//! a small multiple of the budget (the encoded message, the decoded text, its analysis),
//! whatever the number of callers.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Frame, SizeHint};
use tonic::body::Body;
use tonic::codegen::http;

use super::status::ServiceError;

/// Request bytes the server may hold at once.
#[derive(Debug)]
pub struct ByteBudget {
    limit: usize,
    held: AtomicUsize,
}

impl ByteBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> ByteBudget {
        ByteBudget {
            limit,
            held: AtomicUsize::new(0),
        }
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn take(&self, wanted: usize) -> Result<(), ServiceError> {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(wanted)
                    .filter(|&total| total <= self.limit)
            })
            .map(drop)
            .map_err(|held| ServiceError::InflightBytes {
                held,
                wanted,
                limit: self.limit,
            })
    }

    fn give(&self, n: usize) {
        self.held.fetch_sub(n, Ordering::AcqRel);
    }
}

/// The bytes one call holds, one entry per message, oldest first. Everything still
/// held goes back to the budget when the last handle is dropped.
#[derive(Debug)]
pub struct CallBytes {
    budget: Arc<ByteBudget>,
    messages: Mutex<VecDeque<usize>>,
}

impl CallBytes {
    fn take(&self, n: usize) -> Result<(), ServiceError> {
        self.budget.take(n)?;
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(n);
        Ok(())
    }

    /// Gives back the bytes of the oldest message still held: a streaming handler calls
    /// it once per message it has finished with, in the order they arrived.
    pub fn release_oldest(&self) {
        let oldest = self
            .messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        if let Some(n) = oldest {
            self.budget.give(n);
        }
    }
}

impl Drop for CallBytes {
    fn drop(&mut self) {
        let held: usize = self
            .messages
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .sum();
        self.budget.give(held);
    }
}

/// The [`CallBytes`] of a request that went through the [`BudgetLayer`].
pub fn call_bytes<T>(request: &tonic::Request<T>) -> Option<Arc<CallBytes>> {
    request.extensions().get::<Arc<CallBytes>>().cloned()
}

/// Where a body is in the gRPC framing: a 5-byte prefix (flag, big-endian length), then
/// that many bytes of message.
#[derive(Debug, Default)]
struct Framing {
    prefix: [u8; 5],
    prefix_len: usize,
    /// Message bytes still to come.
    remaining: usize,
}

impl Framing {
    /// Walks `data`, taking each message's length from `call` as its prefix completes.
    fn feed(&mut self, mut data: &[u8], call: &CallBytes) -> Result<(), ServiceError> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(data.len());
                self.remaining -= n;
                data = &data[n..];
                continue;
            }
            let n = (5 - self.prefix_len).min(data.len());
            self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&data[..n]);
            self.prefix_len += n;
            data = &data[n..];
            if self.prefix_len == 5 {
                self.prefix_len = 0;
                let len = u32::from_be_bytes([
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                    self.prefix[4],
                ]) as usize;
                call.take(len + 5)?;
                self.remaining = len;
            }
        }
        Ok(())
    }
}

/// A request body that charges its messages to the budget as they arrive.
struct BudgetBody {
    inner: Body,
    call: Arc<CallBytes>,
    framing: Framing,
    failed: bool,
}

impl http_body::Body for BudgetBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            let this = &mut *self;
            if let Err(err) = this.framing.feed(data.chunk(), &this.call) {
                this.failed = true;
                return Poll::Ready(Some(Err(err.into())));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The path prefix of the calls whose bytes are counted.
const COUNTED: &str = "/neardup.v1.NearDup/";

/// Tower layer: charges every `neardup.v1.NearDup` request to one [`ByteBudget`].
#[derive(Debug, Clone)]
pub struct BudgetLayer {
    budget: Arc<ByteBudget>,
}

impl BudgetLayer {
    /// Charges requests to `budget`.
    pub fn new(budget: Arc<ByteBudget>) -> BudgetLayer {
        BudgetLayer { budget }
    }
}

impl<S> tower::Layer<S> for BudgetLayer {
    type Service = BudgetService<S>;
    fn layer(&self, inner: S) -> BudgetService<S> {
        BudgetService {
            inner,
            budget: self.budget.clone(),
        }
    }
}

/// The service of [`BudgetLayer`].
#[derive(Debug, Clone)]
pub struct BudgetService<S> {
    inner: S,
    budget: Arc<ByteBudget>,
}

impl<S> tower::Service<http::Request<Body>> for BudgetService<S>
where
    S: tower::Service<http::Request<Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if !req.uri().path().starts_with(COUNTED) {
            return Box::pin(self.inner.call(req));
        }
        let call = Arc::new(CallBytes {
            budget: self.budget.clone(),
            messages: Mutex::new(VecDeque::new()),
        });
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(call.clone());
        let body = Body::new(BudgetBody {
            inner: body,
            call: call.clone(),
            framing: Framing::default(),
            failed: false,
        });
        let future = self.inner.call(http::Request::from_parts(parts, body));
        Box::pin(async move {
            let response = future.await;
            // A unary handler has answered: its request is gone.
            drop(call);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(limit: usize) -> (Arc<ByteBudget>, CallBytes) {
        let budget = Arc::new(ByteBudget::new(limit));
        let call = CallBytes {
            budget: budget.clone(),
            messages: Mutex::new(VecDeque::new()),
        };
        (budget, call)
    }

    fn frame(len: usize) -> Vec<u8> {
        let mut f = vec![0u8];
        f.extend_from_slice(&(len as u32).to_be_bytes());
        f.extend(std::iter::repeat_n(7u8, len));
        f
    }

    #[test]
    fn messages_are_charged_from_their_prefix_in_any_chunking() {
        let data: Vec<u8> = [frame(10), frame(0), frame(3)].concat();
        for chunk in 1..data.len() {
            let (budget, call) = call(100);
            let mut framing = Framing::default();
            for piece in data.chunks(chunk) {
                framing.feed(piece, &call).unwrap();
            }
            assert_eq!(budget.held(), 15 + 5 + 8, "chunks of {chunk}");
            call.release_oldest();
            assert_eq!(budget.held(), 13);
            drop(call);
            assert_eq!(budget.held(), 0);
        }
    }

    #[test]
    fn a_message_over_the_budget_is_refused_at_its_prefix() {
        let (budget, call) = call(20);
        let mut framing = Framing::default();
        framing.feed(&frame(10), &call).unwrap();
        // Only the prefix of the next message has arrived, and it is already refused.
        let err = framing.feed(&frame(10)[..5], &call).unwrap_err();
        assert!(
            matches!(
                err,
                ServiceError::InflightBytes {
                    held: 15,
                    wanted: 15,
                    limit: 20
                }
            ),
            "{err:?}"
        );
        assert_eq!(budget.held(), 15);
    }
}

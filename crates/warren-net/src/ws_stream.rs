//! A WebSocket seen as a byte stream, so the ordinary driver and sessions run over it.
//!
//! Reading concatenates the payloads of text and binary messages: protocol frames that span
//! or share messages come out whole to the session's own framing. Each write becomes one
//! message. Pings are answered by tungstenite; a close message reads as end of stream, and
//! shutting the stream down sends one.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::ws::OutFrames;

pub(crate) struct WsByteStream<S> {
    ws: WebSocketStream<S>,
    frames: OutFrames,
    /// The unread rest of the last message.
    pending: Bytes,
    closed: bool,
}

impl<S> WsByteStream<S> {
    pub(crate) fn new(ws: WebSocketStream<S>, frames: OutFrames) -> Self {
        Self {
            ws,
            frames,
            pending: Bytes::new(),
            closed: false,
        }
    }

    fn message(&self, bytes: &[u8]) -> Message {
        let bytes = Bytes::copy_from_slice(bytes);
        match self.frames {
            OutFrames::Binary => Message::Binary(bytes),
            OutFrames::TextWhenUtf8 => match Utf8Bytes::try_from(bytes.clone()) {
                Ok(text) => Message::Text(text),
                Err(_) => Message::Binary(bytes),
            },
        }
    }
}

fn io_error(error: tokio_tungstenite::tungstenite::Error) -> io::Error {
    io::Error::other(error)
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsByteStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                buf.put_slice(self.pending.get(..n).unwrap_or_default());
                self.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            if self.closed {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(bytes))) => self.pending = bytes,
                Some(Ok(Message::Text(text))) => self.pending = Bytes::from(text),
                Some(Ok(Message::Close(_))) | None => self.closed = true,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(error)) => return Poll::Ready(Err(io_error(error))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsByteStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(io_error)?;
        let message = self.message(buf);
        Pin::new(&mut self.ws)
            .start_send(message)
            .map_err(io_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws).poll_flush(cx).map_err(io_error)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.ws).poll_close(cx)) {
            // Closing twice (the client closed first) is not a failure.
            Ok(()) | Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed) => {
                Poll::Ready(Ok(()))
            }
            Err(error) => Poll::Ready(Err(io_error(error))),
        }
    }
}

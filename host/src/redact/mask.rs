//! Masking secrets in responses: a host that received a secret may echo it
//! (in a header, an error page, a debugging endpoint); the guest must still
//! never see it. It is found in every encoding the scanner knows without
//! decoding, in any letter case, and each occurrence becomes as many `*`,
//! so lengths hold. (The response is plain: the request asked for no
//! compression: the egress layer sees to that.)

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aho_corasick::AhoCorasick;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};

/// The secrets injected into one request, to mask in its response.
pub(crate) struct Mask {
    matcher: Arc<AhoCorasick>,
    /// Bytes held back between chunks, so that a secret split across two
    /// chunks is still found: one less than the longest secret.
    overlap: usize,
}

impl Mask {
    pub(crate) fn new<'a>(secrets: impl Iterator<Item = &'a str>) -> Option<Mask> {
        let (matcher, longest) = super::matcher(secrets)?;
        Some(Mask {
            matcher: Arc::new(matcher),
            overlap: longest - 1,
        })
    }

    pub(crate) fn headers(&self, headers: &mut http::HeaderMap) {
        for value in headers.values_mut() {
            let mut bytes = value.as_bytes().to_vec();
            if mask(&self.matcher, &mut bytes)
                && let Ok(masked) = http::HeaderValue::from_bytes(&bytes)
            {
                *value = masked;
            }
        }
    }

    pub(crate) fn body<B>(&self, inner: B) -> MaskedBody<B> {
        MaskedBody {
            inner,
            matcher: self.matcher.clone(),
            overlap: self.overlap,
            held: BytesMut::new(),
            done: false,
        }
    }
}

/// Overwrite every match in `bytes` with `*`; whether there was one.
fn mask(matcher: &AhoCorasick, bytes: &mut [u8]) -> bool {
    let found: Vec<_> = matcher.find_iter(&*bytes).map(|m| m.range()).collect();
    for range in &found {
        bytes[range.clone()].fill(b'*');
    }
    !found.is_empty()
}

pub(crate) struct MaskedBody<B> {
    inner: B,
    matcher: Arc<AhoCorasick>,
    overlap: usize,
    held: BytesMut,
    done: bool,
}

impl<B> Body for MaskedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        loop {
            if this.done {
                if this.held.is_empty() {
                    return Poll::Ready(None);
                }
                mask(&this.matcher, &mut this.held);
                return Poll::Ready(Some(Ok(Frame::data(this.held.split().freeze()))));
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.done = true,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        this.held.extend_from_slice(&data);
                        mask(&this.matcher, &mut this.held);
                        let ready = this.held.len().saturating_sub(this.overlap);
                        if ready > 0 {
                            return Poll::Ready(Some(Ok(Frame::data(
                                this.held.split_to(ready).freeze(),
                            ))));
                        }
                    }
                    // Trailers pass as they are.
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test]
    async fn masks_a_secret_split_across_chunks() {
        let mask = Mask::new(["s3cret-token"].into_iter()).unwrap();
        let chunks = ["echo: s3c", "ret-tok", "en and S3CRET-TOKEN", "!"];
        let frames: Vec<Result<_, std::convert::Infallible>> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from(*c))))
            .collect();
        let stream = futures_util::stream::iter(frames);
        let body = mask.body(StreamBody::new(stream));
        let out = body.collect().await.unwrap().to_bytes();
        assert_eq!(&out[..], b"echo: ************ and ************!");

        // Hex and base64 echoes too.
        let hex = hex::encode("s3cret-token");
        let mut headers = http::HeaderMap::new();
        headers.insert("x-hex", hex.parse().unwrap());
        mask.headers(&mut headers);
        assert!(headers["x-hex"].to_str().unwrap().chars().all(|c| c == '*'));

        let mut headers = http::HeaderMap::new();
        headers.insert("x-echo", "Bearer s3cret-token".parse().unwrap());
        mask.headers(&mut headers);
        assert_eq!(headers["x-echo"], "Bearer ************");
    }
}

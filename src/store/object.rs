//! The [`Store`] implementation over the `object_store` crate: local folders, S3, R2
//! and memory all go through here.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::signer::{Method, Signer};
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, PutResult, WriteMultipart,
};

use super::{ByteStream, GetObject, ObjectInfo, Store, StoreError, StoreKind};

/// Bytes gathered before deciding between a single PUT and a multipart upload, and the
/// size of each part. 8 MiB keeps small files to one request and large ones to a few
/// hundred parts, well inside S3's limit of 10,000 parts (up to about 80 GB).
const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts uploaded at once per object. With [`PART_SIZE`] this bounds the memory one
/// upload holds to about `(PARTS_IN_FLIGHT + 1) * PART_SIZE`.
const PARTS_IN_FLIGHT: usize = 2;

/// A store backed by any `object_store` implementation.
#[derive(Debug)]
pub struct ObjectStoreBackend {
    name: String,
    kind: StoreKind,
    inner: Arc<dyn ObjectStore>,
    signer: Option<Arc<dyn Signer>>,
    /// The base of canonical URLs, ending in `/`; object keys are appended.
    url_base: String,
    /// Whether `url_base` opens objects without credentials.
    url_base_is_public: bool,
}

impl ObjectStoreBackend {
    /// Wraps `inner` as the store `name`.
    ///
    /// `url_base` is the address that object keys are appended to for canonical URLs;
    /// `url_base_is_public` says whether those URLs open without credentials. `signer`,
    /// when present, makes signed URLs for stores whose objects are private.
    pub fn new(
        name: impl Into<String>,
        kind: StoreKind,
        inner: Arc<dyn ObjectStore>,
        signer: Option<Arc<dyn Signer>>,
        url_base: impl Into<String>,
        url_base_is_public: bool,
    ) -> Self {
        let mut url_base = url_base.into();
        if !url_base.ends_with('/') {
            url_base.push('/');
        }
        Self { name: name.into(), kind, inner, signer, url_base, url_base_is_public }
    }

    fn backend_error(
        &self,
        operation: &'static str,
        key: &str,
        source: object_store::Error,
    ) -> StoreError {
        match source {
            object_store::Error::NotFound { .. } => {
                StoreError::NotFound { store: self.name.clone(), key: key.to_owned() }
            }
            source => StoreError::Backend {
                store: self.name.clone(),
                operation,
                key: key.to_owned(),
                source: Box::new(source),
            },
        }
    }

    fn body_error(&self, key: &str, source: std::io::Error) -> StoreError {
        StoreError::Body { store: self.name.clone(), key: key.to_owned(), source }
    }

    /// Streams `body` into a multipart upload that already holds `first_part`.
    async fn put_multipart(
        &self,
        path: &Path,
        key: &str,
        first_part: Bytes,
        body: &mut ByteStream,
    ) -> Result<(PutResult, u64), StoreError> {
        let upload = self
            .inner
            .put_multipart(path)
            .await
            .map_err(|err| self.backend_error("start multipart upload of", key, err))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut size = first_part.len() as u64;
        writer.put(first_part);

        loop {
            let chunk = match body.next().await {
                None => break,
                Some(Ok(chunk)) => chunk,
                Some(Err(err)) => {
                    // Abandon the upload so that no partial object is ever completed.
                    let _ = writer.abort().await;
                    return Err(self.body_error(key, err));
                }
            };
            if let Err(err) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = writer.abort().await;
                return Err(self.backend_error("upload a part of", key, err));
            }
            size += chunk.len() as u64;
            writer.put(chunk);
        }

        let result = writer
            .finish()
            .await
            .map_err(|err| self.backend_error("complete multipart upload of", key, err))?;
        Ok((result, size))
    }
}

#[async_trait]
impl Store for ObjectStoreBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> StoreKind {
        self.kind
    }

    async fn put(&self, key: &str, mut body: ByteStream) -> Result<ObjectInfo, StoreError> {
        let path = Path::from(key);

        // Gather up to one part: a file that fits is sent in one request, a larger one
        // continues as a multipart upload with what was gathered as its first part.
        let mut first_part = BytesMut::new();
        let mut body_ended = false;
        while first_part.len() < PART_SIZE {
            match body.next().await {
                None => {
                    body_ended = true;
                    break;
                }
                Some(Ok(chunk)) => first_part.extend_from_slice(&chunk),
                Some(Err(err)) => return Err(self.body_error(key, err)),
            }
        }

        let (result, size) = if body_ended {
            let size = first_part.len() as u64;
            let result = self
                .inner
                .put(&path, PutPayload::from(first_part.freeze()))
                .await
                .map_err(|err| self.backend_error("put", key, err))?;
            (result, size)
        } else {
            self.put_multipart(&path, key, first_part.freeze(), &mut body).await?
        };

        Ok(ObjectInfo { key: key.to_owned(), size, etag: result.e_tag })
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<GetObject, StoreError> {
        let path = Path::from(key);
        let options = GetOptions::new().with_range(range.map(GetRange::Bounded));
        let result = self
            .inner
            .get_opts(&path, options)
            .await
            .map_err(|err| self.backend_error("get", key, err))?;

        let info = ObjectInfo {
            key: key.to_owned(),
            size: result.meta.size,
            etag: result.meta.e_tag.clone(),
        };
        let range = result.range.clone();
        let store = self.name.clone();
        let owned_key = key.to_owned();
        let body = result
            .into_stream()
            .map_err(move |source| {
                let err = StoreError::Backend {
                    store: store.clone(),
                    operation: "read",
                    key: owned_key.clone(),
                    source: Box::new(source),
                };
                std::io::Error::other(err)
            })
            .boxed();
        Ok(GetObject { info, range, body })
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo, StoreError> {
        let meta = self
            .inner
            .head(&Path::from(key))
            .await
            .map_err(|err| self.backend_error("head", key, err))?;
        Ok(ObjectInfo { key: key.to_owned(), size: meta.size, etag: meta.e_tag })
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(self.backend_error("delete", key, err)),
        }
    }

    fn list(&self, prefix: &str) -> BoxStream<'static, Result<ObjectInfo, StoreError>> {
        let prefix_path = (!prefix.is_empty()).then(|| Path::from(prefix));
        let store = self.name.clone();
        let prefix = prefix.to_owned();
        self.inner
            .list(prefix_path.as_ref())
            .map(move |item| match item {
                Ok(meta) => Ok(ObjectInfo {
                    key: meta.location.to_string(),
                    size: meta.size,
                    etag: meta.e_tag,
                }),
                Err(source) => Err(StoreError::Backend {
                    store: store.clone(),
                    operation: "list",
                    key: prefix.clone(),
                    source: Box::new(source),
                }),
            })
            .boxed()
    }

    fn canonical_url(&self, key: &str) -> String {
        format!("{}{}", self.url_base, key)
    }

    async fn access_url(&self, key: &str, ttl: Duration) -> Result<String, StoreError> {
        if self.url_base_is_public {
            return Ok(self.canonical_url(key));
        }
        let Some(signer) = &self.signer else {
            return Err(StoreError::NoUrl { store: self.name.clone() });
        };
        let url = signer
            .signed_url(Method::GET, &Path::from(key), ttl)
            .await
            .map_err(|err| self.backend_error("sign a URL for", key, err))?;
        Ok(url.to_string())
    }
}

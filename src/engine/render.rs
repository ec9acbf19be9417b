//! Image renditions of stored files.
//!
//! A put queues a render job for every image; the job downloads a verified copy of the
//! original (the backup's first) to a temporary file, renders it off the async runtime
//! (a bounded number at a time, see [`crate::render`]), and stores the renditions under
//! `renditions/<file id>/<name>.webp` in the backup store, and in the primary too when
//! `images.in_primary` is set. The catalog records each one with its URL, size and
//! dimensions, and the 300 px thumbnail's URL becomes the file's `thumbnailUrl`.
//!
//! An image that cannot be rendered (over a limit, broken) is recorded as `skipped` or
//! `failed` with the reason, and the job ends there: the same bytes would give the same
//! answer. A store that fails makes the job retry. The original is never touched.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::Twinstore;
use crate::catalog::RenditionRecord;
use crate::error::{Error, Result};
use crate::render::{RenderError, Rendition, STANDARD_SET, THUMBNAIL, is_renderable};
use crate::store::{ByteStream, Store};

/// What rendering a file came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum RenderOutcome {
    /// The renditions are stored (now or earlier).
    Done {
        /// Every rendition in every store that holds one.
        renditions: Vec<RenditionRecord>,
    },
    /// The file is not an image that gets renditions, or renditions are off.
    None,
    /// The image was not rendered on purpose.
    Skipped {
        /// Why.
        reason: String,
    },
    /// The image could not be rendered.
    Failed {
        /// Why.
        reason: String,
    },
}

/// A rendition being read.
pub struct RenditionReader {
    /// The rendition, in the store it is read from.
    pub rendition: RenditionRecord,
    /// Its bytes.
    pub body: ByteStream,
}

impl std::fmt::Debug for RenditionReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenditionReader").field("rendition", &self.rendition).finish()
    }
}

/// The prefix of every rendition's object key, in every store.
pub(super) const RENDITIONS_PREFIX: &str = "renditions/";

/// The object key of a rendition.
pub fn rendition_key(file_id: &str, name: &str) -> String {
    format!("{RENDITIONS_PREFIX}{file_id}/{name}.webp")
}

impl Twinstore {
    /// Makes and stores the renditions of the file `id`, unless it has them already.
    ///
    /// Errors are those worth retrying (a store or the catalog failing); an image that
    /// cannot be rendered is an outcome, recorded in the catalog.
    pub async fn render(&self, id: &str) -> Result<RenderOutcome> {
        let file = self.file(id).await?;
        if file.render_status == "done" {
            return Ok(RenderOutcome::Done { renditions: self.catalog.renditions(id).await? });
        }
        if !self.config.images.enabled || !is_renderable(&file.content_type) {
            return Ok(RenderOutcome::None);
        }
        if file.scan_status == "infected" {
            let reason = "the file is infected".to_owned();
            self.catalog.set_render_status(id, "skipped", Some(&reason)).await?;
            return Ok(RenderOutcome::Skipped { reason });
        }

        let folder = tempfile::tempdir()
            .map_err(|source| Error::Output { path: std::env::temp_dir(), source })?;
        let original = folder.path().join("original");
        // The backup first: the renditions go there anyway, and the primary (which may
        // be UploadThing, paid per download) keeps serving users.
        self.download_record(&file, &original, true).await?;

        let permit = self.render_slots.clone().acquire_owned().await;
        let limits = self.config.images.limits();
        let started = std::time::Instant::now();
        let rendered = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            crate::render::render_file(&original, &STANDARD_SET, &limits)
        })
        .await
        .unwrap_or(Err(RenderError::Panicked));
        drop(folder);

        let renditions = match rendered {
            Ok(renditions) => renditions,
            Err(err) => return self.record_render_error(id, &err).await,
        };
        let render_ms = started.elapsed().as_millis() as u64;

        let records = self.store_renditions(id, &renditions).await?;
        let backup = self.roles().backup;
        let thumbnail_url = records
            .iter()
            .find(|record| record.name == THUMBNAIL && record.store == backup)
            .or_else(|| records.iter().find(|record| record.name == THUMBNAIL))
            .map(|record| record.url.as_str());

        if !self.catalog.record_renditions(id, &records, thumbnail_url).await? {
            // The file was removed, or found infected, while it was being rendered.
            self.delete_renditions(&records).await;
            if self.catalog.file(id).await?.is_none() {
                return Err(Error::FileNotFound { id: id.to_owned() });
            }
            return Ok(RenderOutcome::Skipped { reason: "the file is infected".to_owned() });
        }
        info!(file_id = %id, renditions = records.len(), render_ms, "renditions stored");
        Ok(RenderOutcome::Done { renditions: self.catalog.renditions(id).await? })
    }

    /// Every rendition of the file `id`, in every store that holds one.
    pub async fn renditions(&self, id: &str) -> Result<Vec<RenditionRecord>> {
        self.file(id).await?;
        Ok(self.catalog.renditions(id).await?)
    }

    /// Opens the rendition `name` of the file `id`, from the first store that answers
    /// (the backup store first, where renditions always are).
    pub async fn read_rendition(&self, id: &str, name: &str) -> Result<RenditionReader> {
        let file = self.file(id).await?;
        self.check_servable(&file)?;
        let mut candidates: Vec<RenditionRecord> =
            self.catalog.renditions(id).await?.into_iter().filter(|r| r.name == name).collect();
        if candidates.is_empty() {
            return Err(Error::RenditionNotFound { id: id.to_owned(), name: name.to_owned() });
        }
        let backup = self.roles().backup;
        candidates.sort_by_key(|r| (self.breaker.is_open(&r.store), r.store != backup));

        let first_byte = self.config.timeouts.first_byte;
        let mut reasons = Vec::new();
        for rendition in candidates {
            let Some(store) = self.stores.get(&rendition.store) else {
                reasons.push(format!("{}: not configured", rendition.store));
                continue;
            };
            let opened = tokio::time::timeout(first_byte, store.get(&rendition.key, None)).await;
            match opened {
                Ok(Ok(object)) if object.info.size == rendition.size => {
                    self.breaker.record_success(&rendition.store);
                    return Ok(RenditionReader { rendition, body: object.body });
                }
                Ok(Ok(object)) => {
                    reasons.push(format!("{}: holds {} bytes", rendition.store, object.info.size))
                }
                Ok(Err(err)) => {
                    self.breaker.record_failure(&rendition.store);
                    reasons.push(format!("{}: {err}", rendition.store));
                }
                Err(_) => {
                    self.breaker.record_failure(&rendition.store);
                    reasons.push(format!("{}: no answer in {first_byte:?}", rendition.store));
                }
            }
            warn!(file_id = %id, rendition = %name, "rendition read failed over");
        }
        Err(Error::NoReadableCopy { id: id.to_owned(), reasons: reasons.join("; ") })
    }

    /// Removes the stored objects of `renditions`; failures are logged and returned.
    pub(super) async fn delete_renditions(&self, renditions: &[RenditionRecord]) -> Vec<String> {
        let mut failures = Vec::new();
        for rendition in renditions {
            let Some(store) = self.stores.get(&rendition.store) else { continue };
            if let Err(err) = store.delete(&rendition.key).await {
                warn!(store = %rendition.store, key = %rendition.key, error = %err,
                    "rendition not removed");
                failures.push(format!("{} {}: {err}", rendition.store, rendition.key));
            }
        }
        failures
    }

    /// Records why the file `id` got no renditions.
    async fn record_render_error(&self, id: &str, error: &RenderError) -> Result<RenderOutcome> {
        let reason = error.to_string();
        if error.is_skip() {
            info!(file_id = %id, reason = %reason, "image not rendered");
            self.catalog.set_render_status(id, "skipped", Some(&reason)).await?;
            Ok(RenderOutcome::Skipped { reason })
        } else {
            warn!(file_id = %id, error = %reason, "image could not be rendered");
            self.catalog.set_render_status(id, "failed", Some(&reason)).await?;
            Ok(RenderOutcome::Failed { reason })
        }
    }

    /// Writes every rendition to the stores that keep renditions.
    async fn store_renditions(
        &self,
        id: &str,
        renditions: &[Rendition],
    ) -> Result<Vec<RenditionRecord>> {
        let roles = self.roles();
        let mut store_names = vec![roles.backup];
        if self.config.images.in_primary {
            store_names.push(roles.primary);
        }

        // Each WebP is copied into shared bytes once, whatever the number of stores.
        let encoded: Vec<Bytes> =
            renditions.iter().map(|rendition| Bytes::copy_from_slice(&rendition.webp)).collect();
        let mut records = Vec::new();
        for store_name in store_names {
            let store: &Arc<dyn Store> = self.stores.get(&store_name).ok_or_else(|| {
                Error::UnknownStore { id: id.to_owned(), store: store_name.clone() }
            })?;
            for (rendition, bytes) in renditions.iter().zip(&encoded) {
                let key = rendition_key(id, rendition.name);
                let bytes = bytes.clone();
                let body = futures::stream::once(async move { Ok(bytes) }).boxed();
                store.put(&key, body).await?;
                records.push(RenditionRecord {
                    name: rendition.name.to_owned(),
                    store: store_name.clone(),
                    url: store.canonical_url(&key),
                    key,
                    width: rendition.width,
                    height: rendition.height,
                    size: rendition.webp.len() as u64,
                    sha256: hex::encode(Sha256::digest(&rendition.webp)),
                    created_at: crate::catalog::now(),
                });
            }
        }
        Ok(records)
    }
}

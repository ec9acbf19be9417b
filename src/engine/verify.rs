//! Verification: every copy of every file checked against the catalog.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Twinstore;
use super::render::RENDITIONS_PREFIX;
use crate::catalog::{CopyRecord, CopyState, FileRecord};
use crate::error::Result;
use crate::store::{ObjectInfo, Store};

/// Files read from the catalog per query while walking it.
pub(super) const PAGE: u32 = 500;

/// Copies read and hashed at once by a deep verify: enough to keep the network and a
/// core busy while one copy waits for its store.
const DEEP_READS_AT_ONCE: usize = 8;

/// Prefix under which original objects live in every store.
const FILES_PREFIX: &str = "files/";

/// What a verification found.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Whether bytes were read and hashed (deep) or only metadata compared (fast).
    pub deep: bool,
    /// Files checked.
    pub files: u64,
    /// Copies recorded `stored` that were checked.
    pub copies_checked: u64,
    /// Copies that matched.
    pub copies_ok: u64,
    /// Copies still `pending` (waiting for replication).
    pub copies_pending: u64,
    /// Stored copies whose object is missing from its store.
    pub missing: Vec<CopyProblem>,
    /// Stored copies whose object differs from the catalog's record.
    pub mismatched: Vec<CopyProblem>,
    /// Objects in a store that no copy in the catalog refers to.
    pub orphans: Vec<Orphan>,
    /// Files with no copy that verified.
    pub unrecoverable: Vec<String>,
    /// Stores that could not be listed; their copies were not checked.
    pub unreachable: Vec<StoreProblem>,
    /// Renditions recorded for images that were checked.
    pub renditions_checked: u64,
    /// Renditions missing from their store, or of another size than recorded.
    pub renditions_missing: Vec<RenditionProblem>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty()
            && self.mismatched.is_empty()
            && self.orphans.is_empty()
            && self.unrecoverable.is_empty()
            && self.unreachable.is_empty()
            && self.renditions_missing.is_empty()
    }
}

/// A rendition that failed verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenditionProblem {
    /// The file.
    pub file_id: String,
    /// The rendition's name.
    pub name: String,
    /// The store that should hold it.
    pub store: String,
    /// Its object key.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// A copy that failed verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyProblem {
    /// The file.
    pub file_id: String,
    /// The store holding the copy.
    pub store: String,
    /// The object key.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// An object that no copy refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orphan {
    /// The store.
    pub store: String,
    /// The object key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A store that could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreProblem {
    /// The store.
    pub store: String,
    /// Why.
    pub error: String,
}

/// Progress of a long operation, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Files done.
    pub done: u64,
    /// Files to do in all (as counted at the start).
    pub total: u64,
}

impl Twinstore {
    /// Checks every copy of every file against the catalog.
    ///
    /// Fast mode compares what each store lists (size, and the entity tag recorded at
    /// write time, which changes when an object is rewritten); deep mode also reads
    /// every stored copy and compares its SHA-256. Each image's renditions are checked
    /// to be in their store with their size. Objects under `files/` and `renditions/`
    /// that nothing in the catalog refers to are orphans. Files created after the check
    /// began are left out, so an upload in flight is not taken for a missing copy.
    pub async fn verify(
        &self,
        deep: bool,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<VerifyReport> {
        let started: DateTime<Utc> = crate::catalog::now();
        let mut report = VerifyReport { deep, ..VerifyReport::default() };
        let total = self.catalog.file_count().await?;

        // The stores are listed at the same time: listing is most of a fast verify.
        let names: Vec<String> = self.stores_in_use().await?.into_iter().collect();
        let listed = futures::future::join_all(names.iter().map(|name| async {
            let store = self.stores[name].as_ref();
            let (files, renditions) = futures::future::join(
                list_all(store, FILES_PREFIX),
                list_all(store, RENDITIONS_PREFIX),
            )
            .await;
            files.and_then(|files| renditions.map(|renditions| (files, renditions)))
        }))
        .await;
        let mut listings = HashMap::new();
        let mut rendition_listings = HashMap::new();
        for (name, listing) in names.into_iter().zip(listed) {
            match listing {
                Ok((files, renditions)) => {
                    listings.insert(name.clone(), files);
                    rendition_listings.insert(name, renditions);
                }
                Err(error) => report.unreachable.push(StoreProblem { store: name, error }),
            }
        }

        let mut after: Option<String> = None;
        loop {
            let files = self.catalog.files_after(after.as_deref(), PAGE).await?;
            let Some(last) = files.last() else { break };
            after = Some(last.id.clone());

            let page: Vec<&FileRecord> =
                files.iter().filter(|file| file.created_at <= started).collect();
            let mut to_hash = Vec::new();
            let mut good_copies = HashMap::new();
            for file in &page {
                let good =
                    self.verify_file(file, deep, &mut listings, &mut report, &mut to_hash).await?;
                good_copies.insert(file.id.as_str(), good);
                self.verify_renditions(file, &mut rendition_listings, &mut report).await?;
            }
            self.hash_copies(to_hash, &mut good_copies, &mut report).await?;

            for file in page {
                let checked_any = file.copies.iter().any(|c| listings.contains_key(&c.store));
                if good_copies[file.id.as_str()] == 0 && checked_any {
                    report.unrecoverable.push(file.id.clone());
                }
                report.files += 1;
                progress(Progress { done: report.files, total: total.max(report.files) });
            }
        }

        let leftovers = listings.into_iter().chain(rendition_listings);
        for (store, listing) in leftovers {
            for (key, info) in listing {
                let file_id = file_id_of(&key);
                // A file written after the check began is not an orphan.
                if self.catalog.file(file_id).await?.is_some_and(|f| f.created_at > started) {
                    continue;
                }
                report.orphans.push(Orphan { store: store.clone(), key, size: info.size });
            }
        }
        report.orphans.sort_by(|a, b| (&a.store, &a.key).cmp(&(&b.store, &b.key)));
        Ok(report)
    }

    /// Checks one file's copies against the listings; each key seen is taken out of its
    /// store's listing, so that what remains are orphans. Returns how many copies are
    /// good so far; in deep mode the copies that pass go to `to_hash` instead, to be
    /// read and hashed (several at once) by [`Self::hash_copies`].
    async fn verify_file<'f>(
        &self,
        file: &'f FileRecord,
        deep: bool,
        listings: &mut HashMap<String, HashMap<String, ObjectInfo>>,
        report: &mut VerifyReport,
        to_hash: &mut Vec<(&'f FileRecord, &'f CopyRecord)>,
    ) -> Result<u32> {
        let mut good_copies = 0;
        for copy in &file.copies {
            let listed = match listings.get_mut(&copy.store) {
                None => None,
                Some(listing) if copy.key.starts_with(FILES_PREFIX) => {
                    Some(listing.remove(&copy.key))
                }
                // A key outside `files/` (an UploadThing file key, for a file that came
                // in through the webhook) is not in the listing: ask the store.
                Some(_) => match self.store_of(file, &copy.store)?.head(&copy.key).await {
                    Ok(info) => Some(Some(info)),
                    Err(err) if err.is_not_found() => Some(None),
                    Err(_) => None,
                },
            };
            match copy.state {
                CopyState::Stored => {}
                CopyState::Pending => {
                    report.copies_pending += 1;
                    continue;
                }
                CopyState::Failed | CopyState::Deleted => continue,
            }
            // A copy in a store that could not be listed is neither good nor bad.
            let Some(listed) = listed else { continue };
            report.copies_checked += 1;

            let problem = |reason: String| CopyProblem {
                file_id: file.id.clone(),
                store: copy.store.clone(),
                key: copy.key.clone(),
                reason,
            };
            let Some(info) = listed else {
                report.missing.push(problem("the object is missing".to_owned()));
                continue;
            };
            match fast_check(file, copy, &info) {
                Err(reason) => report.mismatched.push(problem(reason)),
                Ok(()) if deep => to_hash.push((file, copy)),
                Ok(()) => {
                    report.copies_ok += 1;
                    good_copies += 1;
                }
            }
        }
        Ok(good_copies)
    }

    /// Reads and hashes `copies`, several at once, and records what each came to.
    async fn hash_copies(
        &self,
        copies: Vec<(&FileRecord, &CopyRecord)>,
        good_copies: &mut HashMap<&str, u32>,
        report: &mut VerifyReport,
    ) -> Result<()> {
        let hashed: Vec<_> = futures::stream::iter(copies)
            .map(|(file, copy)| async move { (file, copy, self.hash_copy(file, copy).await) })
            .buffer_unordered(DEEP_READS_AT_ONCE)
            .collect()
            .await;
        let mut verified = Vec::new();
        for (file, copy, verdict) in hashed {
            match verdict {
                Ok(()) => {
                    report.copies_ok += 1;
                    *good_copies.get_mut(file.id.as_str()).expect("a file of this page") += 1;
                    verified.push((file.id.as_str(), copy.store.as_str()));
                }
                Err(reason) => report.mismatched.push(CopyProblem {
                    file_id: file.id.clone(),
                    store: copy.store.clone(),
                    key: copy.key.clone(),
                    reason,
                }),
            }
        }
        self.catalog.mark_copies_verified(&verified).await?;
        Ok(())
    }

    /// Checks that each recorded rendition of `file` is in its store with its size;
    /// each key seen is taken out of its store's listing, as for copies.
    async fn verify_renditions(
        &self,
        file: &FileRecord,
        listings: &mut HashMap<String, HashMap<String, ObjectInfo>>,
        report: &mut VerifyReport,
    ) -> Result<()> {
        if file.render_status != "done" {
            return Ok(());
        }
        for rendition in self.catalog.renditions(&file.id).await? {
            // A store that could not be listed was reported as unreachable.
            let Some(listing) = listings.get_mut(&rendition.store) else { continue };
            report.renditions_checked += 1;
            let reason = match listing.remove(&rendition.key) {
                None => "the object is missing".to_owned(),
                Some(info) if info.size != rendition.size => {
                    format!("size is {}, expected {}", info.size, rendition.size)
                }
                Some(_) => continue,
            };
            report.renditions_missing.push(RenditionProblem {
                file_id: file.id.clone(),
                name: rendition.name,
                store: rendition.store,
                key: rendition.key,
                reason,
            });
        }
        Ok(())
    }

    /// Reads a copy whole and compares its SHA-256 with the file's.
    pub(super) async fn hash_copy(
        &self,
        file: &FileRecord,
        copy: &CopyRecord,
    ) -> Result<(), String> {
        let store = self.store_of(file, &copy.store).map_err(|err| err.to_string())?;
        let object = store.get(&copy.key, None).await.map_err(|err| err.to_string())?;
        let mut hasher = Sha256::new();
        let mut body = object.body;
        while let Some(chunk) = body.next().await {
            hasher.update(&chunk.map_err(|err| format!("reading failed: {err}"))?);
        }
        let actual = hex::encode(hasher.finalize());
        if actual == file.sha256 {
            Ok(())
        } else {
            Err(format!("SHA-256 is {actual}, expected {}", file.sha256))
        }
    }

    /// The stores that hold a role or any copy.
    pub(super) async fn stores_in_use(&self) -> Result<BTreeSet<String>> {
        let roles = self.refresh_roles().await?;
        let mut names = BTreeSet::from([roles.primary, roles.backup]);
        names.extend(self.catalog.stores_with_copies().await?);
        names.retain(|name| self.stores.contains_key(name));
        Ok(names)
    }
}

/// Compares what a store lists with the catalog: size, and the entity tag when both
/// are known.
fn fast_check(file: &FileRecord, copy: &CopyRecord, info: &ObjectInfo) -> Result<(), String> {
    if info.size != file.size {
        return Err(format!("size is {}, expected {}", info.size, file.size));
    }
    if let (Some(recorded), Some(listed)) = (&copy.etag, &info.etag)
        && recorded != listed
    {
        return Err("the object was rewritten (its entity tag changed)".to_owned());
    }
    Ok(())
}

/// The file an object under `files/` or `renditions/` belongs to.
pub(super) fn file_id_of(key: &str) -> &str {
    if let Some(rest) = key.strip_prefix(RENDITIONS_PREFIX) {
        return rest.split('/').next().unwrap_or(rest);
    }
    key.strip_prefix(FILES_PREFIX).unwrap_or(key)
}

async fn list_all(store: &dyn Store, prefix: &str) -> Result<HashMap<String, ObjectInfo>, String> {
    store
        .list(prefix)
        .map_ok(|info| (info.key.clone(), info))
        .try_collect()
        .await
        .map_err(|err| crate::store::error_chain(&err))
}

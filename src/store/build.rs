//! Turns a [`StoreConfig`] into a working [`Store`].

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, Checksum};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use super::{ObjectStoreBackend, Store, StoreError, StoreKind};
use crate::config::StoreConfig;

/// Retries of one S3 call before it counts as failed. The engine fails over to the
/// other copy on its own, so a down store must fail fast rather than retry for minutes
/// (object_store's default is 10 retries within 3 minutes).
const S3_MAX_RETRIES: usize = 2;
const S3_RETRY_WINDOW: Duration = Duration::from_secs(10);
const S3_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens the store `name` as `config` describes it. Local folders are created.
pub fn open_store(name: &str, config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    let misconfigured =
        |message: &str| StoreError::Config { store: name.to_owned(), message: message.to_owned() };

    let backend = match config.kind {
        StoreKind::UploadThing => {
            return Ok(Arc::new(super::UploadThingStore::open(name, config)?));
        }
        StoreKind::Local => {
            let path = config.path.as_ref().ok_or_else(|| misconfigured("path is not set"))?;
            std::fs::create_dir_all(path).map_err(|err| {
                misconfigured(&format!("cannot create the folder {}: {err}", path.display()))
            })?;
            let path = std::fs::canonicalize(path).map_err(|err| {
                misconfigured(&format!("cannot resolve the folder {}: {err}", path.display()))
            })?;
            let inner = LocalFileSystem::new_with_prefix(&path)
                .map_err(|err| misconfigured(&err.to_string()))?
                .with_automatic_cleanup(true)
                // An acknowledged file must survive a power cut: sync the file and
                // its folder before the put returns.
                .with_fsync(true);
            let (url_base, public) = match &config.public_base_url {
                Some(base) => (base.clone(), true),
                None => (format!("file://{}", path.display()), true),
            };
            wrap(name, config, Arc::new(inner), None, url_base, public)
        }
        StoreKind::Memory => {
            let base = config.public_base_url.clone();
            let url_base = base.clone().unwrap_or_else(|| format!("memory://{name}"));
            wrap(name, config, Arc::new(InMemory::new()), None, url_base, base.is_some())
        }
        StoreKind::S3 | StoreKind::R2 => {
            let client = s3_client(config).map_err(|message| misconfigured(&message))?;
            let built = client.builder.build().map_err(|err| misconfigured(&err.to_string()))?;
            let s3 = Arc::new(built);
            let (url_base, public) = match &config.public_base_url {
                Some(base) => (base.clone(), true),
                None => (client.url_base, false),
            };
            let signer = s3.clone() as Arc<dyn object_store::signer::Signer>;
            wrap(name, config, s3, Some(signer), url_base, public)
        }
    };
    Ok(Arc::new(backend))
}

/// Wraps a built object store, under the configured key prefix.
fn wrap<T: ObjectStore>(
    name: &str,
    config: &StoreConfig,
    inner: Arc<T>,
    signer: Option<Arc<dyn object_store::signer::Signer>>,
    url_base: String,
    public: bool,
) -> ObjectStoreBackend {
    let prefix = config.prefix.as_deref().unwrap_or("").trim_matches('/');
    if prefix.is_empty() {
        return ObjectStoreBackend::new(name, config.kind, inner, signer, url_base, public);
    }
    // The signer signs full keys, so with a prefix it gets them through the URL base.
    let url_base = format!("{}/{prefix}", url_base.trim_end_matches('/'));
    let prefixed = PrefixStore::new(inner, prefix);
    let signer = signer.map(|signer| {
        Arc::new(PrefixSigner { inner: signer, prefix: prefix.to_owned() })
            as Arc<dyn object_store::signer::Signer>
    });
    ObjectStoreBackend::new(name, config.kind, Arc::new(prefixed), signer, url_base, public)
}

/// Signs URLs for keys inside a prefix.
#[derive(Debug)]
struct PrefixSigner {
    inner: Arc<dyn object_store::signer::Signer>,
    prefix: String,
}

#[async_trait::async_trait]
impl object_store::signer::Signer for PrefixSigner {
    async fn signed_url(
        &self,
        method: object_store::signer::Method,
        path: &object_store::path::Path,
        expires_in: Duration,
    ) -> object_store::Result<url::Url> {
        let full = object_store::path::Path::from(format!("{}/{path}", self.prefix));
        self.inner.signed_url(method, &full, expires_in).await
    }
}

struct S3Client {
    builder: AmazonS3Builder,
    url_base: String,
}

/// A pure function from settings to an S3 client builder and the canonical URL base,
/// so that the addressing rules are testable without a network.
fn s3_client(config: &StoreConfig) -> Result<S3Client, String> {
    let bucket = config.bucket.clone().ok_or("bucket is not set")?;

    let (region, endpoint) = match config.kind {
        StoreKind::R2 => {
            let account = config.account_id.as_deref().ok_or("account_id is not set")?;
            // R2 accepts only the region "auto" in signatures.
            let endpoint = format!("https://{account}.r2.cloudflarestorage.com");
            ("auto".to_owned(), Some(endpoint))
        }
        _ => {
            let region = config.region.clone().unwrap_or_else(|| "us-east-1".to_owned());
            (region, config.endpoint.clone())
        }
    };
    let path_style = config.path_style.unwrap_or(endpoint.is_some());

    let url_base = match (&endpoint, path_style) {
        (Some(endpoint), true) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
        (Some(endpoint), false) => virtual_host_url(endpoint, &bucket)?,
        (None, true) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
        (None, false) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
    };

    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: S3_MAX_RETRIES,
        retry_timeout: S3_RETRY_WINDOW,
    };
    let client = ClientOptions::new()
        .with_connect_timeout(S3_CONNECT_TIMEOUT)
        .with_allow_http(endpoint.as_deref().is_some_and(|e| e.starts_with("http://")));

    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_region(&region)
        .with_virtual_hosted_style_request(!path_style)
        .with_checksum_algorithm(Checksum::SHA256)
        .with_retry(retry)
        .with_client_options(client);
    if let Some(endpoint) = &endpoint {
        // With virtual-hosted style, object_store expects the bucket in the endpoint.
        let endpoint =
            if path_style { endpoint.clone() } else { virtual_host_url(endpoint, &bucket)? };
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(key_id) = &config.access_key_id {
        builder = builder.with_access_key_id(key_id);
    }
    if let Some(secret) = &config.secret_access_key {
        builder = builder.with_secret_access_key(secret.expose());
    }
    Ok(S3Client { builder, url_base })
}

fn virtual_host_url(endpoint: &str, bucket: &str) -> Result<String, String> {
    let mut url = url::Url::parse(endpoint).map_err(|err| format!("endpoint: {err}"))?;
    let host = url.host_str().ok_or("endpoint has no host")?.to_owned();
    url.set_host(Some(&format!("{bucket}.{host}"))).map_err(|err| err.to_string())?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(bucket: &str) -> StoreConfig {
        StoreConfig { bucket: Some(bucket.to_owned()), ..StoreConfig::empty(StoreKind::S3) }
    }

    #[test]
    fn aws_urls_are_virtual_hosted() {
        let config = StoreConfig { region: Some("eu-west-1".into()), ..s3("files") };
        let client = s3_client(&config).unwrap();
        assert_eq!(client.url_base, "https://files.s3.eu-west-1.amazonaws.com");
    }

    #[test]
    fn a_custom_endpoint_is_path_style_by_default() {
        let config = StoreConfig { endpoint: Some("http://127.0.0.1:3900".into()), ..s3("b") };
        let client = s3_client(&config).unwrap();
        assert_eq!(client.url_base, "http://127.0.0.1:3900/b");
    }

    #[test]
    fn r2_is_addressed_by_account() {
        let config =
            StoreConfig { kind: StoreKind::R2, account_id: Some("acc123".into()), ..s3("backup") };
        let client = s3_client(&config).unwrap();
        assert_eq!(client.url_base, "https://acc123.r2.cloudflarestorage.com/backup");
    }

    #[test]
    fn a_bucket_is_required() {
        assert!(s3_client(&StoreConfig::empty(StoreKind::S3)).is_err());
    }
}

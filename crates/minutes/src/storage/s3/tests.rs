//! The S3 backend against a local S3-protocol server that verifies every SigV4 signature:
//! streamed multipart uploads, downloads, deletes, refused credentials and presigned URLs.
mod server;
mod sigv4;
mod xml;

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use super::*;
use crate::config::{Config, StorageBackend};
use server::{FakeS3, ACCESS_KEY_ID, BUCKET, REGION, SECRET};

fn options(endpoint: &str, secret: &str) -> S3Options {
    S3Options {
        endpoint: Some(endpoint.parse().expect("endpoint")),
        region: REGION.into(),
        bucket: BUCKET.into(),
        path_style: true,
        allow_http: true,
        access_key_id: ACCESS_KEY_ID.into(),
        secret_access_key: SecretString::from(secret),
        presign_ttl: Duration::from_secs(3600),
    }
}

async fn connected() -> (FakeS3, String, ObjectStorage) {
    let (fake, endpoint) = FakeS3::start().await;
    let store = ObjectStorage::s3(options(&endpoint, SECRET)).expect("store");
    (fake, endpoint, store)
}

/// Bytes that do not repeat with the part size, so swapped or repeated parts change them.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 4099) as u8).collect()
}

async fn fetch(url: &str) -> (StatusCode, Bytes) {
    let response = reqwest::get(url).await.expect("request");
    let status = response.status();
    (status, response.bytes().await.expect("body"))
}

#[tokio::test]
async fn s3_storage_streams_an_upload_in_parts_and_reports_its_sha256() {
    let (fake, _, store) = connected().await;
    let key = "uploads/t1/meeting.wav";
    let data = payload(12 * 1024 * 1024 + 4321);
    let mut writer = store.writer(key).await.expect("create the upload");
    for chunk in data.chunks(700_001) {
        writer.write(chunk);
    }
    let written = writer.finish().await.expect("complete the upload");
    assert_eq!(written.size_bytes, data.len() as u64);
    assert_eq!(written.sha256, hex::encode(Sha256::digest(&data)));
    let (stored, parts) = fake.object(key).expect("stored");
    assert_eq!(parts, 2, "8 MiB parts: a multipart upload of two parts");
    assert!(
        stored.as_ref() == data.as_slice(),
        "the parts join in order"
    );
    assert_eq!(fake.open_uploads(), 0);

    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("meeting.wav");
    store.download_to(key, &dest).await.expect("download");
    assert!(std::fs::read(&dest).expect("read") == data);
    assert!(store.exists(key).await.expect("head"));

    store.delete(key).await.expect("delete");
    assert!(fake.object(key).is_none());
    assert!(!store.exists(key).await.expect("head after delete"));
    let missing = store.download_to(key, &dest).await;
    assert!(
        matches!(&missing, Err(StorageError::NotFound(k)) if k == key),
        "{missing:?}"
    );
    store.delete(key).await.expect("deleting twice is fine");
}

#[tokio::test]
async fn s3_storage_puts_small_objects_and_aborts_partial_uploads() {
    let (fake, _, store) = connected().await;
    store
        .put("notes/a.txt", Bytes::from_static(b"hello"))
        .await
        .expect("put");
    let (stored, parts) = fake.object("notes/a.txt").expect("stored");
    assert_eq!((stored.as_ref(), parts), (&b"hello"[..], 1));

    // More than one part's worth, so a part is on its way when the upload is abandoned.
    let mut writer = store.writer("uploads/t2/cut.wav").await.expect("writer");
    writer.write(&payload(9 * 1024 * 1024));
    assert_eq!(fake.open_uploads(), 1);
    writer.abort().await;
    assert_eq!(fake.open_uploads(), 0, "the multipart upload is aborted");
    assert!(fake.object("uploads/t2/cut.wav").is_none());
}

#[tokio::test]
async fn s3_storage_with_a_wrong_secret_fails_with_the_servers_reason() {
    let (fake, endpoint) = FakeS3::start().await;
    let store = ObjectStorage::s3(options(&endpoint, "not-the-secret")).expect("store");
    let err = store
        .put("notes/a.txt", Bytes::from_static(b"x"))
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            StorageError::Backend(object_store::Error::PermissionDenied { .. })
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert!(!text.contains("not-the-secret"), "{text}");
    assert!(fake.object("notes/a.txt").is_none());
    assert!(store.writer("uploads/t3/a.wav").await.is_err());
    assert_eq!(fake.open_uploads(), 0);
    // /ready probes with a HEAD: refused credentials make the store unhealthy, not "missing".
    assert!(store.exists("health/probe").await.is_err());
}

#[tokio::test]
async fn s3_storage_presigned_urls_serve_one_object_until_they_expire() {
    let (fake, endpoint, store) = connected().await;
    let key = "audio/t1/normalized.wav";
    store
        .put(key, Bytes::from_static(b"RIFF audio"))
        .await
        .expect("put");
    store
        .put("audio/t2/normalized.wav", Bytes::from_static(b"other"))
        .await
        .expect("put");
    let url = store
        .presigned_get(key, Duration::from_secs(300))
        .await
        .expect("presign");
    assert!(
        url.starts_with(&format!("{endpoint}/{BUCKET}/{key}?")),
        "{url}"
    );
    assert!(url.contains("X-Amz-Expires=300") && url.contains("X-Amz-Signature="));
    assert!(!url.contains("test-secret"), "{url}");

    let (status, body) = fetch(&url).await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::OK, &b"RIFF audio"[..])
    );

    let refused = |(status, body): (StatusCode, Bytes), code: &str| {
        let text = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
        assert!(text.contains(code), "{text}");
    };
    refused(
        fetch(&url.replace("/t1/", "/t2/")).await,
        "SignatureDoesNotMatch",
    );
    refused(
        fetch(&url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000")).await,
        "SignatureDoesNotMatch",
    );
    let bare = url.split('?').next().expect("path");
    refused(fetch(bare).await, "AccessDenied");

    // The configured presign TTL (an hour here) bounds what a caller can ask for.
    let capped = store
        .presigned_get(key, Duration::from_secs(30 * 24 * 3600))
        .await
        .expect("presign");
    assert!(capped.contains("X-Amz-Expires=3600"), "{capped}");

    fake.advance_clock(Duration::from_secs(301));
    let (status, body) = fetch(&url).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(&body).contains("Request has expired"));
    assert_eq!(
        fetch(&capped).await.0,
        StatusCode::OK,
        "still within its hour"
    );
}

#[test]
fn s3_storage_endpoints_carry_the_bucket_in_the_path_or_the_host() {
    let endpoint: Url = "https://s3.example.com/".parse().expect("url");
    assert_eq!(
        bucket_endpoint(&endpoint, "minutes", true).expect("path style"),
        "https://s3.example.com"
    );
    assert_eq!(
        bucket_endpoint(&endpoint, "minutes", false).expect("virtual hosted"),
        "https://minutes.s3.example.com"
    );
    let minio: Url = "http://minio.internal:9000".parse().expect("url");
    assert_eq!(
        bucket_endpoint(&minio, "minutes", false).expect("virtual hosted"),
        "http://minutes.minio.internal:9000"
    );
}

#[tokio::test]
async fn storage_from_configuration_is_a_presigning_s3_store_or_a_local_directory() {
    let (fake, endpoint) = FakeS3::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let id_file = dir.path().join("access-key-id");
    let secret_file = dir.path().join("secret-access-key");
    std::fs::write(&id_file, format!("{ACCESS_KEY_ID}\n")).expect("write");
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("write");
    let mut config = Config::load(None).expect("defaults");
    config.storage.backend = StorageBackend::S3;
    let s3 = &mut config.storage.s3;
    s3.endpoint = endpoint;
    s3.region = REGION.into();
    s3.bucket = BUCKET.into();
    s3.allow_http = true;
    s3.access_key_id_file = Some(id_file);
    s3.secret_access_key_file = Some(secret_file);

    let store = crate::app::object_storage(&config).expect("s3 store");
    assert!(store.can_presign(), "Volcano gets presigned URLs from S3");
    store
        .put("notes/b.txt", Bytes::from_static(b"signed"))
        .await
        .expect("signed with the credentials from the files");
    assert!(fake.object("notes/b.txt").is_some());

    config.storage.backend = StorageBackend::Local;
    config.storage.root = dir.path().join("objects").display().to_string();
    let local = crate::app::object_storage(&config).expect("local store");
    assert!(!local.can_presign());
}

#[test]
fn storage_test_server_signatures_match_the_aws_documented_examples() {
    use axum::http::{HeaderMap, HeaderValue, Method};
    let keys = sigv4::Keys {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        region: "us-east-1".into(),
    };
    let at = |s: &str| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
            .expect("time")
            .and_utc()
    };
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "examplebucket.s3.amazonaws.com"),
        ("range", "bytes=0-9"),
        ("x-amz-content-sha256", empty),
        ("x-amz-date", "20130524T000000Z"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    fn request<'a>(raw_query: &'a str, headers: &'a HeaderMap) -> sigv4::Incoming<'a> {
        static GET: Method = Method::GET;
        sigv4::Incoming {
            method: &GET,
            raw_path: "/test.txt",
            raw_query,
            headers,
        }
    }
    let now = at("20130524T000100Z");
    assert_eq!(
        sigv4::verify(&request("", &headers), &keys, now).expect("the documented GET"),
        empty
    );
    headers.insert("range", HeaderValue::from_static("bytes=0-10"));
    let err = sigv4::verify(&request("", &headers), &keys, now).expect_err("changed range");
    assert_eq!(err.code, "SignatureDoesNotMatch");

    let mut host = HeaderMap::new();
    host.insert(
        "host",
        HeaderValue::from_static("examplebucket.s3.amazonaws.com"),
    );
    let presigned = "X-Amz-Algorithm=AWS4-HMAC-SHA256\
        &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
        &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
        &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    sigv4::verify(&request(presigned, &host), &keys, now).expect("the documented presigned GET");
    let err = sigv4::verify(&request(presigned, &host), &keys, at("20130525T000001Z"))
        .expect_err("a day and a second later");
    assert_eq!(
        (err.code, err.message.as_str()),
        ("AccessDenied", "Request has expired")
    );
}

/// `minutes backup` with an `s3://bucket/prefix` destination: the archive and the object pool
/// land under the prefix, an unchanged second backup copies no object, and the archive
/// restores (hash-checked) from the bucket into an empty database and object directory.
#[tokio::test]
async fn backups_to_an_s3_destination_are_incremental_and_restore_from_the_bucket() {
    use crate::datamove::backup::{self, destination::Destination};
    use crate::store::catalog;
    use crate::store::rows::Value;

    let (fake, endpoint) = FakeS3::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (id_file, secret_file) = (dir.path().join("id"), dir.path().join("secret"));
    std::fs::write(&id_file, ACCESS_KEY_ID).expect("write");
    std::fs::write(&secret_file, SECRET).expect("write");
    let mut config = Config::load(None).expect("defaults");
    let s3 = &mut config.storage.s3;
    s3.endpoint = endpoint;
    s3.region = REGION.into();
    s3.bucket = "some-other-bucket".into();
    s3.allow_http = true;
    s3.access_key_id_file = Some(id_file);
    s3.secret_access_key_file = Some(secret_file);

    let connect = |name: &str| crate::store::sql::ConnectOptions {
        url: format!("sqlite://{}", dir.path().join(name).display()),
        max_connections: 2,
        pg_schema: None,
    };
    let source = crate::store::SqlStore::connect(&connect("source.db"))
        .await
        .expect("db");
    crate::store::Migrator::new(&source)
        .up()
        .await
        .expect("migrate");
    let tenants = catalog::table("tenants").expect("catalog");
    let mut loader = source.loader().await.expect("loader");
    loader
        .insert(
            tenants,
            vec![vec![
                Value::Text("tenant_s3".into()),
                Value::Text("S3 Ltd".into()),
                Value::Timestamp(chrono::Utc::now()),
            ]],
        )
        .await
        .expect("row");
    loader.commit().await.expect("commit");
    let objects_dir = dir.path().join("objects");
    std::fs::create_dir_all(&objects_dir).expect("dir");
    let objects = ObjectStorage::local(&objects_dir).expect("local");
    let audio = payload(300_000);
    objects
        .put("uploads/u/a.wav", Bytes::from(audio.clone()))
        .await
        .expect("put");

    let dest =
        Destination::parse(&config, &format!("s3://{BUCKET}/backups/nightly/")).expect("dest");
    let first = backup::create(&source, &objects, &dest, None, false)
        .await
        .expect("backup");
    assert_eq!(
        first.archive,
        format!(
            "s3://{BUCKET}/backups/nightly/archives/{}.tar.zst",
            first.manifest.id
        )
    );
    let sha = hex::encode(Sha256::digest(&audio));
    let pooled = fake
        .object(&format!("backups/nightly/objects/{}/{sha}", &sha[..2]))
        .expect("the object is pooled under the prefix");
    assert_eq!(pooled.0.as_ref(), audio.as_slice());
    assert!(fake
        .object(&format!(
            "backups/nightly/archives/{}.tar.zst",
            first.manifest.id
        ))
        .is_some());
    let second = backup::create(&source, &objects, &dest, None, false)
        .await
        .expect("again");
    assert_eq!(second.objects, backup::objects::ObjectsCopied::default());
    assert_eq!(backup::archives(&dest).await.expect("list").len(), 2);

    let (from_archive, id) =
        Destination::of_archive(&config, &second.archive).expect("archive ref");
    assert_eq!(id, second.manifest.id);
    let target = crate::store::SqlStore::connect(&connect("restored.db"))
        .await
        .expect("db");
    let restored_dir = dir.path().join("restored");
    std::fs::create_dir_all(&restored_dir).expect("dir");
    let restored_objects = ObjectStorage::local(&restored_dir).expect("local");
    backup::restore(
        &target,
        &restored_objects,
        &from_archive,
        &id,
        None,
        false,
        false,
    )
    .await
    .expect("restore");
    assert_eq!(
        std::fs::read(restored_dir.join("uploads/u/a.wav")).expect("restored"),
        audio
    );
    let mut snap = target.snapshot().await.expect("snapshot");
    let tenants_rows = snap.digests().await.expect("digests")[0].1.rows;
    snap.finish().await.expect("finish");
    assert_eq!(tenants_rows, 1);
}

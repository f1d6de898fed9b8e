//! A minimal S3 server on 127.0.0.1 for the tests: path-style PutObject, GetObject, HeadObject,
//! DeleteObject and the multipart calls (CreateMultipartUpload, UploadPart,
//! CompleteMultipartUpload, AbortMultipartUpload) with the XML bodies the S3 API reference
//! documents. Every request passes SigV4 verification first, and a signed payload hash must
//! match the body. Its clock can be moved forward, to expire presigned URLs without waiting.
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, TimeDelta, Utc};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};

use super::sigv4::{self, refuse, Incoming, Keys, Refusal, UNSIGNED_PAYLOAD};
use super::xml::{error_response, escape, listed_parts, xml};

pub const REGION: &str = "eu-test-1";
pub const BUCKET: &str = "minutes-test";
pub const ACCESS_KEY_ID: &str = "AKIDMINUTESTEST";
pub const SECRET: &str = "test-secret/0123456789+abcdefghij";
/// Every part but the last must be at least this large (S3's documented minimum).
const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

#[derive(Clone)]
pub struct FakeS3 {
    shared: Arc<Shared>,
}

struct Shared {
    keys: Keys,
    clock_offset_secs: AtomicI64,
    objects: Mutex<HashMap<String, StoredObject>>,
    uploads: Mutex<HashMap<String, Upload>>,
    next_upload: AtomicU64,
}

struct StoredObject {
    data: Bytes,
    etag: String,
    parts: usize,
    modified: DateTime<Utc>,
}

struct Upload {
    key: String,
    /// Part number → (ETag, bytes).
    parts: BTreeMap<u32, (String, Bytes)>,
}

impl FakeS3 {
    /// Serves on a free loopback port; returns the server and its endpoint URL.
    pub async fn start() -> (FakeS3, String) {
        let fake = FakeS3 {
            shared: Arc::new(Shared {
                keys: Keys {
                    access_key_id: ACCESS_KEY_ID.into(),
                    secret_access_key: SECRET.into(),
                    region: REGION.into(),
                },
                clock_offset_secs: AtomicI64::new(0),
                objects: Mutex::default(),
                uploads: Mutex::default(),
                next_upload: AtomicU64::new(1),
            }),
        };
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        (fake, endpoint)
    }

    /// Moves the server's clock forward (presigned URLs expire by it).
    pub fn advance_clock(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).expect("a test duration");
        self.shared
            .clock_offset_secs
            .fetch_add(secs, Ordering::SeqCst);
    }

    /// A stored object's bytes and the number of parts it was uploaded in.
    pub fn object(&self, key: &str) -> Option<(Bytes, usize)> {
        let objects = self.shared.objects.lock().expect("objects");
        objects.get(key).map(|o| (o.data.clone(), o.parts))
    }

    /// Multipart uploads neither completed nor aborted.
    pub fn open_uploads(&self) -> usize {
        self.shared.uploads.lock().expect("uploads").len()
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::seconds(self.shared.clock_offset_secs.load(Ordering::SeqCst))
    }

    fn answer(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response, Refusal> {
        let now = self.now();
        let raw_query = uri.query().unwrap_or("");
        let incoming = Incoming {
            method,
            raw_path: uri.path(),
            raw_query,
            headers,
        };
        let payload = sigv4::verify(&incoming, &self.shared.keys, now)?;
        check_payload(&payload, &body)?;
        let query = sigv4::query_pairs(raw_query);
        if *method == Method::GET && query.iter().any(|(k, v)| k == "list-type" && v == "2") {
            bucket_of(uri.path())?;
            let prefix = query
                .iter()
                .find(|(k, _)| k == "prefix")
                .map_or("", |(_, v)| v.as_str());
            return Ok(self.list_objects(prefix));
        }
        let key = object_key(uri.path())?;
        if *method == Method::PUT {
            if let Some(source) = headers.get("x-amz-copy-source") {
                return self.copy_object(source.to_str().unwrap_or(""), key, now);
            }
        }
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        match (
            method.clone(),
            param("uploads"),
            param("uploadId"),
            param("partNumber"),
        ) {
            (Method::POST, Some(_), None, None) => Ok(self.create_upload(&key)),
            (Method::PUT, None, Some(id), Some(number)) => self.upload_part(&key, id, number, body),
            (Method::POST, None, Some(id), None) => self.complete_upload(&key, id, &body, now),
            (Method::DELETE, None, Some(id), None) => self.abort_upload(&key, id),
            (Method::PUT, None, None, None) => Ok(self.put_object(key, body, 1, now)),
            // HEAD gets the same headers; the server leaves the body out.
            (Method::GET | Method::HEAD, None, None, None) => self.get_object(&key),
            (Method::DELETE, None, None, None) => {
                self.shared.objects.lock().expect("objects").remove(&key);
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            _ => Err(refuse(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "the test server does not implement this request",
            )),
        }
    }

    /// ListObjectsV2 of every key under `prefix`, in one page (the tests hold few objects).
    fn list_objects(&self, prefix: &str) -> Response {
        let objects = self.shared.objects.lock().expect("objects");
        let mut keys: Vec<&String> = objects.keys().filter(|k| k.starts_with(prefix)).collect();
        keys.sort();
        let contents: String = keys
            .iter()
            .map(|k| {
                let o = &objects[*k];
                format!(
                    "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag>\
                     <Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                    escape(k),
                    o.modified
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    escape(&o.etag),
                    o.data.len()
                )
            })
            .collect();
        xml(format!(
            "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{BUCKET}</Name>\
             <Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>1000</MaxKeys>\
             <IsTruncated>false</IsTruncated>{contents}</ListBucketResult>",
            escape(prefix),
            keys.len()
        ))
    }

    /// CopyObject: `x-amz-copy-source` is `[/]bucket/key`, percent-encoded.
    fn copy_object(
        &self,
        source: &str,
        key: String,
        now: DateTime<Utc>,
    ) -> Result<Response, Refusal> {
        let decoded = percent_decode_str(source).decode_utf8_lossy().into_owned();
        let from = object_key(&format!("/{}", decoded.trim_start_matches('/')))?;
        let data = {
            let objects = self.shared.objects.lock().expect("objects");
            objects.get(&from).map(|o| o.data.clone()).ok_or_else(|| {
                refuse(
                    StatusCode::NOT_FOUND,
                    "NoSuchKey",
                    "The specified key does not exist.",
                )
            })?
        };
        let etag = etag_of(&data);
        self.put_object(key, data, 1, now);
        Ok(xml(format!(
            "<CopyObjectResult><LastModified>{}</LastModified><ETag>{}</ETag></CopyObjectResult>",
            now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            escape(&etag)
        )))
    }

    fn put_object(&self, key: String, data: Bytes, parts: usize, now: DateTime<Utc>) -> Response {
        let etag = if parts == 1 {
            etag_of(&data)
        } else {
            format!("\"{}-{parts}\"", &etag_of(&data)[1..33])
        };
        let object = StoredObject {
            data,
            etag: etag.clone(),
            parts,
            modified: now,
        };
        self.shared
            .objects
            .lock()
            .expect("objects")
            .insert(key, object);
        (StatusCode::OK, [(header::ETAG, etag)]).into_response()
    }

    fn get_object(&self, key: &str) -> Result<Response, Refusal> {
        let objects = self.shared.objects.lock().expect("objects");
        let object = objects.get(key).ok_or_else(|| {
            refuse(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
            )
        })?;
        let modified = object
            .modified
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let headers = [
            (header::ETAG, object.etag.clone()),
            (header::LAST_MODIFIED, modified),
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
        ];
        Ok((StatusCode::OK, headers, object.data.clone()).into_response())
    }

    fn create_upload(&self, key: &str) -> Response {
        let id = format!(
            "upload-{}",
            self.shared.next_upload.fetch_add(1, Ordering::SeqCst)
        );
        let upload = Upload {
            key: key.to_string(),
            parts: BTreeMap::new(),
        };
        self.shared
            .uploads
            .lock()
            .expect("uploads")
            .insert(id.clone(), upload);
        xml(format!(
            "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Bucket>{BUCKET}</Bucket><Key>{}</Key><UploadId>{id}</UploadId>\
             </InitiateMultipartUploadResult>",
            escape(key)
        ))
    }

    fn upload_part(
        &self,
        key: &str,
        id: &str,
        number: &str,
        body: Bytes,
    ) -> Result<Response, Refusal> {
        let number: u32 = number
            .parse()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                refuse(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "Part number must be an integer between 1 and 10000, inclusive",
                )
            })?;
        let mut uploads = self.shared.uploads.lock().expect("uploads");
        let upload = uploads
            .get_mut(id)
            .filter(|u| u.key == key)
            .ok_or_else(no_such_upload)?;
        let etag = etag_of(&body);
        upload.parts.insert(number, (etag.clone(), body));
        Ok((StatusCode::OK, [(header::ETAG, etag)]).into_response())
    }

    fn complete_upload(
        &self,
        key: &str,
        id: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Response, Refusal> {
        let listed = std::str::from_utf8(body)
            .ok()
            .filter(|b| b.contains("<CompleteMultipartUpload"))
            .and_then(listed_parts)
            .filter(|parts| !parts.is_empty())
            .ok_or_else(|| {
                refuse(
                    StatusCode::BAD_REQUEST,
                    "MalformedXML",
                    "The XML you provided was not well-formed or did not validate against our published schema.",
                )
            })?;
        let mut uploads = self.shared.uploads.lock().expect("uploads");
        let upload = uploads
            .get(id)
            .filter(|u| u.key == key)
            .ok_or_else(no_such_upload)?;
        if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "InvalidPartOrder",
                "The list of parts was not in ascending order.",
            ));
        }
        let mut data = Vec::new();
        for (i, (number, etag)) in listed.iter().enumerate() {
            let (stored_etag, bytes) = upload
                .parts
                .get(number)
                .filter(|(e, _)| e == etag)
                .ok_or_else(|| {
                    refuse(
                        StatusCode::BAD_REQUEST,
                        "InvalidPart",
                        format!("part {number} was not uploaded or its ETag ({etag}) differs"),
                    )
                })?;
            if i + 1 < listed.len() && bytes.len() < MIN_PART_SIZE {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "EntityTooSmall",
                    format!(
                        "part {number} ({stored_etag}) is smaller than the minimum allowed size"
                    ),
                ));
            }
            data.extend_from_slice(bytes);
        }
        uploads.remove(id);
        drop(uploads);
        let response = self.put_object(key.to_string(), Bytes::from(data), listed.len(), now);
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Ok(xml(format!(
            "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Location>/{BUCKET}/{key}</Location><Bucket>{BUCKET}</Bucket><Key>{key}</Key>\
             <ETag>{}</ETag></CompleteMultipartUploadResult>",
            escape(&etag),
            key = escape(key),
        )))
    }

    fn abort_upload(&self, key: &str, id: &str) -> Result<Response, Refusal> {
        let mut uploads = self.shared.uploads.lock().expect("uploads");
        if uploads.get(id).is_none_or(|u| u.key != key) {
            return Err(no_such_upload());
        }
        uploads.remove(id);
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

async fn handle(
    State(fake): State<FakeS3>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.answer(&method, &uri, &headers, body)
        .unwrap_or_else(|refusal| error_response(&refusal, uri.path()))
}

/// A hex SHA-256 the client signed must be the body's; `UNSIGNED-PAYLOAD` skips the check.
fn check_payload(signed: &str, body: &[u8]) -> Result<(), Refusal> {
    if signed == UNSIGNED_PAYLOAD {
        return Ok(());
    }
    if signed.len() != 64 || !signed.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refuse(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("x-amz-content-sha256 `{signed}` is not supported by the test server"),
        ));
    }
    if hex::encode(Sha256::digest(body)) != signed {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ));
    }
    Ok(())
}

/// A bucket-level path (`/{bucket}` or `/{bucket}/`) naming the test bucket.
fn bucket_of(path: &str) -> Result<(), Refusal> {
    if path.trim_matches('/') == BUCKET {
        Ok(())
    } else {
        Err(refuse(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        ))
    }
}

/// The object key of a path-style `/{bucket}/{key}` path, decoded.
fn object_key(path: &str) -> Result<String, Refusal> {
    let (bucket, key) = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .unwrap_or((path.trim_start_matches('/'), ""));
    if bucket != BUCKET {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        ));
    }
    let key = percent_decode_str(key).decode_utf8_lossy().into_owned();
    if key.is_empty() {
        return Err(refuse(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "bucket operations are not implemented by the test server",
        ));
    }
    Ok(key)
}

/// An opaque ETag, quoted as S3 sends it.
fn etag_of(data: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(data)[..16]))
}

fn no_such_upload() -> Refusal {
    refuse(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified multipart upload does not exist.",
    )
}

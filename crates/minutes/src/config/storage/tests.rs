use super::super::{AsrProviderKind, Config, Profile};
use super::*;

fn s3(change: impl FnOnce(&mut Config)) -> Result<Config, ConfigError> {
    let mut c = Config::load(None).expect("defaults load");
    c.storage.backend = StorageBackend::S3;
    c.storage.s3.bucket = "minutes".into();
    change(&mut c);
    c.resolve().map(|()| c)
}

fn key_of(r: Result<Config, ConfigError>) -> &'static str {
    match r {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected an invalid key, got {other:?}"),
    }
}

#[test]
fn storage_defaults_to_the_local_directory_and_ignores_the_s3_section() {
    let c = Config::load(None).expect("defaults load");
    assert_eq!(c.storage.backend, StorageBackend::Local);
    assert!(c.storage.s3.path_style, "MinIO-style paths by default");
    assert!(c.storage.root.ends_with("objects"), "{}", c.storage.root);
    assert!(s3(|_| {}).is_ok(), "AWS S3 in the default region");
}

#[test]
fn storage_s3_settings_are_checked() {
    assert_eq!(
        key_of(s3(|c| c.storage.s3.bucket = String::new())),
        "storage.s3.bucket"
    );
    assert_eq!(
        key_of(s3(|c| c.storage.s3.bucket = "My_Bucket".into())),
        "storage.s3.bucket"
    );
    assert_eq!(
        key_of(s3(|c| c.storage.s3.region = " ".into())),
        "storage.s3.region"
    );
    assert_eq!(
        key_of(s3(|c| c.storage.s3.presign_ttl_secs = 8 * 24 * 3600)),
        "storage.s3.presign_ttl_secs"
    );
    assert_eq!(
        key_of(s3(|c| c.storage.s3.endpoint = "minio:9000".into())),
        "storage.s3.endpoint"
    );
    assert_eq!(
        key_of(s3(|c| c.storage.s3.endpoint = "ftp://minio.internal".into())),
        "storage.s3.endpoint"
    );
    let virtual_ip = s3(|c| {
        c.storage.s3.endpoint = "https://10.0.0.5:9000".into();
        c.storage.s3.path_style = false;
    });
    assert_eq!(key_of(virtual_ip), "storage.s3.path_style");
}

#[test]
fn storage_s3_plain_http_is_for_development_or_loopback() {
    let valid = s3(|_| {}).expect("valid");
    // The storage checks alone: production also wants keys and tokens this test does not set.
    let http = |profile: Profile, endpoint: &str, allow: bool| {
        let mut storage = valid.storage.clone();
        storage.s3.endpoint = endpoint.into();
        storage.s3.allow_http = allow;
        storage
            .validate(profile, &valid.asr)
            .map(|()| valid.clone())
    };
    let minio = "http://minio.internal:9000";
    assert_eq!(
        key_of(http(Profile::Development, minio, false)),
        "storage.s3.allow_http"
    );
    assert!(http(Profile::Development, minio, true).is_ok());
    assert_eq!(
        key_of(http(Profile::Production, minio, true)),
        "storage.s3.allow_http"
    );
    assert!(http(Profile::Production, "http://127.0.0.1:9000", true).is_ok());
    assert!(http(Profile::Production, "https://s3.example.com", false).is_ok());
}

#[test]
fn storage_s3_must_presign_long_enough_for_volcano() {
    let volcano = |ttl: u64| {
        s3(|c| {
            c.asr.primary = AsrProviderKind::Volcano;
            c.asr.volcano.audio_url_ttl_secs = ttl;
            c.storage.s3.presign_ttl_secs = 3600;
        })
    };
    assert_eq!(key_of(volcano(7200)), "asr.volcano.audio_url_ttl_secs");
    assert!(volcano(3600).is_ok());
}

#[test]
fn storage_s3_credentials_come_from_files_or_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "from-file\n").expect("write");
    let mut s3 = s3(|_| {}).expect("valid").storage.s3;
    let env = |name: &str| match name {
        S3_ACCESS_KEY_ID_ENV => Some("AKID-ENV".to_string()),
        S3_SECRET_ACCESS_KEY_ENV => Some("from-env".to_string()),
        _ => None,
    };
    let options = s3.options_with(env).expect("from the environment");
    assert_eq!(options.access_key_id, "AKID-ENV");
    use secrecy::ExposeSecret;
    assert_eq!(options.secret_access_key.expose_secret(), "from-env");

    s3.secret_access_key_file = Some(secret_file);
    let options = s3.options_with(env).expect("the file wins");
    assert_eq!(options.secret_access_key.expose_secret(), "from-file");
    assert!(
        !format!("{options:?}").contains("from-file"),
        "never printed"
    );

    let err = s3.options_with(|_| None).expect_err("no access key id");
    assert!(err.to_string().contains(S3_ACCESS_KEY_ID_ENV), "{err}");
    s3.secret_access_key_file = Some(dir.path().join("missing"));
    assert!(matches!(
        s3.options_with(env),
        Err(ConfigError::Read { .. })
    ));
}

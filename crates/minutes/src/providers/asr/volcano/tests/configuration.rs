//! Startup checks and settings: a presigning store, credentials (inline or from a file), the
//! filter's JSON form, the egress policy, numeric app ids and token redaction.
use super::*;
use crate::providers::keys::ManualProviderClock;

#[tokio::test]
async fn startup_refuses_a_store_that_cannot_presign_and_missing_credentials() {
    let fake = fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let local = ObjectStorage::local(dir.path()).expect("store");
    let clock = Arc::new(ManualProviderClock::at(0));
    let build = |s: VolcanoAsrSettings, objects: ObjectStorage| {
        VolcanoAsr::new(
            s,
            &EgressPolicy::default(),
            objects,
            KeyPoolSettings::default(),
            clock.clone(),
        )
        .map(|_| ())
    };
    let err = build(settings(&fake), local.clone()).expect_err("local store");
    assert!(err.to_string().contains("presigned URL"), "{err}");
    let signing = local.with_signer(Arc::new(FakeSigner));
    let mut s = settings(&fake);
    s.access_token = None;
    let err = build(s, signing.clone()).expect_err("no token");
    assert!(err.to_string().contains("ACCESS_TOKEN"), "{err}");
    let mut s = settings(&fake);
    s.app_id = String::new();
    assert!(build(s, signing.clone()).is_err());
    // The token can come from a file (a mounted secret).
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).expect("write");
    let mut s = settings(&fake);
    s.access_token = None;
    s.access_token_file = Some(file);
    build(s, signing.clone()).expect("token from file");
    // The filter may come as a JSON string (an environment variable); it must be JSON.
    let mut s = settings(&fake);
    s.sensitive_words_filter = Some(json!("{\"system_reserved_filter\": true}"));
    assert!(s.masks_with_asterisks());
    build(s, signing.clone()).expect("a JSON string filter");
    let mut s = settings(&fake);
    s.sensitive_words_filter = Some(json!("system_reserved_filter"));
    assert!(build(s, signing.clone()).is_err());
    // Plain http to a non-loopback host is refused by the egress policy.
    let mut s = settings(&fake);
    s.submit_url = "http://openspeech.example.com/api/v3/auc/bigmodel/submit".into();
    assert!(build(s, signing).is_err());
}

#[test]
fn the_app_id_may_be_a_number() {
    let s: VolcanoAsrSettings =
        serde_json::from_value(json!({"app_id": 123456789})).expect("numeric id");
    assert_eq!(s.app_id, "123456789");
    let s: VolcanoAsrSettings = serde_json::from_value(json!({"app_id": "0042"})).expect("text id");
    assert_eq!(s.app_id, "0042");
    assert_eq!(s.poll_initial_ms, 2000, "documented defaults fill the rest");
}

#[test]
fn settings_never_print_the_token() {
    let s = VolcanoAsrSettings {
        access_token: Some(SecretString::from("s3cr3t")),
        ..VolcanoAsrSettings::default()
    };
    let json = serde_json::to_string(&s).expect("serialize");
    assert!(!json.contains("s3cr3t"), "{json}");
    assert!(!format!("{s:?}").contains("s3cr3t"));
}

use super::*;
use secrecy::ExposeSecret;

fn env_from(pairs: &[(&str, &str)]) -> Env {
    // figment's Env reads the process environment; scope the test to a unique prefix instead.
    let prefix = format!("MINUTES_T{}__", uuid::Uuid::new_v4().simple());
    for (k, v) in pairs {
        // set_var is process-global; the unique prefix keeps parallel tests apart.
        std::env::set_var(format!("{prefix}{k}"), v);
    }
    Env::prefixed(&prefix).split("__")
}

#[test]
fn defaults_load_and_derive_paths() {
    let c = Config::load_from(None, env_from(&[])).unwrap();
    assert_eq!(c.profile, Profile::Development);
    assert!(c.database.url.starts_with("sqlite://") && c.database.url.ends_with("minutes.db"));
    assert!(c.storage.root.ends_with("objects"));
    assert!(c.migrate_on_start());
}

#[test]
fn env_overrides_use_the_documented_names() {
    let c = Config::load_from(
        None,
        env_from(&[
            ("SERVER__BIND", "0.0.0.0:9000"),
            ("DATA_DIR", "/tmp/mdata"),
            ("AUTH__DEV_LOGIN", "true"),
            ("AUTH__JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("DATABASE__URL", "postgres://app:hunter2@db:5432/minutes"),
        ]),
    )
    .unwrap();
    assert_eq!(c.server.bind, "0.0.0.0:9000");
    assert_eq!(c.data_dir, PathBuf::from("/tmp/mdata"));
    assert!(c.auth.dev_login);
    assert_eq!(
        c.auth.jwt_secret.as_ref().unwrap().expose_secret(),
        "0123456789abcdef0123456789abcdef"
    );
    let printed = c.to_redacted_yaml();
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains("0123456789abcdef"), "{printed}");
    assert!(printed.contains("[redacted]"));
    assert!(!format!("{c:?}").contains("0123456789abcdef"));
}

#[test]
fn invalid_config_names_the_key() {
    let err = Config::load_from(None, env_from(&[("SERVER__BIND", "nope")])).unwrap_err();
    assert!(err.to_string().contains("server.bind"), "{err}");
    let err = Config::load_from(None, env_from(&[("DATABASE__URL", "mysql://x")])).unwrap_err();
    assert!(err.to_string().contains("database.url"), "{err}");
    let err = Config::load_from(None, env_from(&[("AUTH__DEV_LOGIN", "true")])).unwrap_err();
    assert!(err.to_string().contains("auth.jwt_secret"), "{err}");
    let err = Config::load_from(
        None,
        env_from(&[
            ("PROFILE", "production"),
            ("AUTH__DEV_LOGIN", "true"),
            ("AUTH__JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("production"), "{err}");
    let err = Config::load_from(
        None,
        env_from(&[("QUEUE__MAX_ATTEMPTS_BY_KIND__TRANSCRIBEX", "3")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("max_attempts_by_kind"), "{err}");
    let ok = Config::load_from(
        None,
        env_from(&[("QUEUE__MAX_ATTEMPTS_BY_KIND__TRANSCRIBE", "8")]),
    )
    .unwrap();
    assert_eq!(ok.max_attempts_for("transcribe"), 8);
    assert_eq!(ok.max_attempts_for("generate_artifact"), 5);
    let err =
        Config::load_from(None, env_from(&[("SERVER__CORS_ORIGINS", "[\"*\"]")])).unwrap_err();
    assert!(err.to_string().contains("server.cors_origins"), "{err}");
    let err = Config::load_from(None, env_from(&[("QUEUE__NOPE", "1")])).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn dsn_passwords_are_hidden() {
    assert_eq!(
        secret::redact_dsn("postgres://u:p@h:5432/d"),
        "postgres://u:[redacted]@h:5432/d"
    );
    assert_eq!(secret::redact_dsn("sqlite://x.db"), "sqlite://x.db");
}

#[test]
fn production_refuses_secrets_in_config_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("minutes.yaml");
    std::fs::write(
        &file,
        "profile: production\n\
         database:\n  url: postgres://app:hunter2@db/minutes\n\
         llm:\n  openai:\n    api_key: sk-live-123\n\
         auth:\n  jwt_secret_file: /run/secrets/jwt\n",
    )
    .unwrap();
    let err = Config::load_from(Some(&file), env_from(&[])).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("llm.openai.api_key"), "{text}");
    assert!(text.contains("database.url"), "{text}");
    assert!(!text.contains("jwt_secret_file"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("sk-live"),
        "{text}"
    );

    // The same file without the secrets passes this check (outside production too).
    std::fs::write(
        &file,
        "profile: development\ndatabase:\n  url: postgres://app:hunter2@db/minutes\n",
    )
    .unwrap();
    assert!(Config::load_from(Some(&file), env_from(&[])).is_ok());
}

#[test]
fn gemini_keys_and_pool_settings_come_from_the_environment() {
    let c = Config::load_from(
        None,
        env_from(&[
            ("LLM__PROVIDER", "gemini"),
            ("LLM__GEMINI__API_KEYS", "AIza-one,AIza-two"),
            ("LLM__GEMINI__MODEL", "gemini-2.5-pro"),
            ("PROVIDER_KEYS__FAILURE_THRESHOLD", "3"),
            ("PROVIDER_KEYS__HALF_OPEN_AFTER_SECS", "120"),
        ]),
    )
    .unwrap();
    assert_eq!(c.llm.provider, LlmProviderKind::Gemini);
    assert_eq!(
        c.llm.gemini.api_keys.as_ref().unwrap().expose_secret(),
        "AIza-one,AIza-two"
    );
    assert_eq!(c.llm.gemini.model, "gemini-2.5-pro");
    assert_eq!(c.provider_keys.failure_threshold, 3);
    assert_eq!(c.provider_keys.half_open_after_secs, 120);
    assert_eq!(c.provider_keys.max_attempts, 3, "untouched defaults stay");
    let printed = c.to_redacted_yaml();
    assert!(!printed.contains("AIza"), "{printed}");

    let err =
        Config::load_from(None, env_from(&[("PROVIDER_KEYS__MAX_ATTEMPTS", "0")])).unwrap_err();
    assert!(err.to_string().contains("provider_keys"), "{err}");
}

#[test]
fn production_refuses_key_lists_in_config_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("minutes.yaml");
    std::fs::write(
        &file,
        "profile: production\n\
         llm:\n  gemini:\n    api_keys: AIza-a,AIza-b\n    api_keys_file: /run/secrets/gemini\n",
    )
    .unwrap();
    let text = Config::load_from(Some(&file), env_from(&[]))
        .unwrap_err()
        .to_string();
    assert!(text.contains("llm.gemini.api_keys"), "{text}");
    assert!(!text.contains("api_keys_file"), "{text}");
    assert!(!text.contains("AIza"), "{text}");
}

#[test]
fn stream_settings_and_the_url_signing_secret_are_checked_and_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signing.key");
    std::fs::write(&file, "fedcba9876543210fedcba9876543210\n").unwrap();
    let c = Config::load_from(
        None,
        env_from(&[
            ("SERVER__URL_SIGNING_SECRET_FILE", file.to_str().unwrap()),
            ("SERVER__SSE_MAX_STREAM_SECS", "30"),
        ]),
    )
    .unwrap();
    let secret = c.server.url_signing_secret.as_ref().unwrap();
    assert_eq!(secret.expose_secret(), "fedcba9876543210fedcba9876543210");
    assert_eq!(c.server.sse_max_stream_secs, 30);
    assert_eq!(c.server.sse_ticket_ttl_secs, 60);
    assert_eq!(c.auth.dev_refresh_ttl_secs, 30 * 24 * 3600);
    assert!(!c.to_redacted_yaml().contains("fedcba98"));
    let short = Config::load_from(None, env_from(&[("SERVER__URL_SIGNING_SECRET", "short")]));
    assert!(
        short
            .unwrap_err()
            .to_string()
            .contains("server.url_signing_secret"),
        "a short secret is refused"
    );
    for (key, value) in [
        ("SSE_MAX_STREAM_SECS", "0"),
        ("SSE_TICKET_TTL_SECS", "7200"),
    ] {
        let err = Config::load_from(None, env_from(&[(&format!("SERVER__{key}"), value)]));
        assert!(
            err.is_err_and(|e| e.to_string().contains("sse_")),
            "{key}={value}"
        );
    }
}

#[test]
fn media_urls_last_six_hours_unless_configured_within_bounds() {
    let c = Config::load_from(None, env_from(&[])).unwrap();
    assert_eq!(c.server.media_url_ttl_secs, 6 * 3600);
    let c = Config::load_from(None, env_from(&[("SERVER__MEDIA_URL_TTL_SECS", "600")])).unwrap();
    assert_eq!(c.server.media_url_ttl_secs, 600);
    for bad in ["0", "59", "604801"] {
        let err = Config::load_from(None, env_from(&[("SERVER__MEDIA_URL_TTL_SECS", bad)]));
        assert!(
            err.is_err_and(|e| e.to_string().contains("server.media_url_ttl_secs")),
            "{bad}"
        );
    }
}

#[test]
fn queue_backends_are_chosen_by_env_and_urls_come_from_env_or_files() {
    let c = Config::load_from(
        None,
        env_from(&[
            ("QUEUE__BACKEND", "redis"),
            ("QUEUE__REDIS_URL", "redis://:pw@127.0.0.1:6379"),
        ]),
    )
    .unwrap();
    assert_eq!(c.queue.backend, QueueBackend::Redis);
    assert_eq!(
        c.queue.redis_url().unwrap().as_deref(),
        Some("redis://:pw@127.0.0.1:6379")
    );
    assert!(
        !c.to_redacted_yaml().contains(":pw@"),
        "the broker password is never printed"
    );

    let err = Config::load_from(None, env_from(&[("QUEUE__BACKEND", "rabbitmq")])).unwrap_err();
    assert!(err.to_string().contains("queue.amqp_url"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("amqp-url");
    std::fs::write(&file, "amqp://u:secret@broker:5672/%2f\n").unwrap();
    let c = Config::load_from(
        None,
        env_from(&[
            ("QUEUE__BACKEND", "rabbitmq"),
            ("QUEUE__AMQP_URL_FILE", file.to_str().unwrap()),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.queue.amqp_url().unwrap().as_deref(),
        Some("amqp://u:secret@broker:5672/%2f"),
        "read from the mounted secret, trimmed"
    );

    let err =
        Config::load_from(None, env_from(&[("SCHEDULES__RETENTION", "every hour")])).unwrap_err();
    assert!(err.to_string().contains("schedules"), "{err}");
    let err = Config::load_from(None, env_from(&[("QUEUE__BATCH", "0")])).unwrap_err();
    assert!(err.to_string().contains("batch"), "{err}");
}

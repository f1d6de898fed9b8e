//! Provider price tables (`pricing`), in exact decimal amounts of one currency. Amounts are
//! written as decimal strings (`"0.00005"`) or plain YAML numbers and kept as integer
//! millionths of the currency unit ("micros"): no float ever touches money.
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ConfigError;

/// An amount in millionths of the price table's currency (1 CNY = 1 000 000 micros).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Micros(pub i64);

impl Micros {
    /// Parses `"0.00005"`, `"12"`, `"1.5"`: at most six decimals, not negative.
    pub fn parse(text: &str) -> Result<Micros, String> {
        let text = text.trim();
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (text.contains('.') && !digits(frac)) {
            return Err(format!(
                "`{text}` is not a plain decimal amount like 0.00005"
            ));
        }
        if frac.len() > 6 {
            return Err(format!(
                "`{text}` has more than 6 decimals (amounts are kept in millionths)"
            ));
        }
        let whole: i64 = whole
            .parse()
            .ok()
            .filter(|w| *w < 1_000_000_000)
            .ok_or_else(|| format!("`{text}` is too large"))?;
        let frac: i64 = format!("{frac:0<6}").parse().unwrap_or(0);
        Ok(Micros(whole * 1_000_000 + frac))
    }

    /// `12.345678` with trailing zeros kept to four decimals at least (display and JSON).
    pub fn to_decimal_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let frac = format!("{:06}", abs % 1_000_000);
        let frac = frac.trim_end_matches('0');
        let frac = format!("{frac:0<4}");
        format!("{sign}{}.{frac}", abs / 1_000_000)
    }

    /// The amount in whole currency units rounded to 4 decimals, for the original API's
    /// `total_cost` numbers (display only; the ledger keeps micros).
    pub fn display_units(self) -> f64 {
        ((self.0 as f64) / 100.0).round() / 10_000.0
    }
}

impl Serialize for Micros {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_decimal_string())
    }
}

impl<'de> Deserialize<'de> for Micros {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Micros, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(u64),
            // A YAML float is read through its shortest round-trip spelling, which is the
            // literal that was written (`0.00005` stays `0.00005`), then parsed exactly.
            Float(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(t) => t,
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) if f.is_finite() && f >= 0.0 => format!("{f}"),
            Raw::Float(f) => return Err(serde::de::Error::custom(format!("bad amount {f}"))),
        };
        Micros::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What one LLM model costs per 1 000 tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenPrice {
    pub input_per_1k: Micros,
    pub output_per_1k: Micros,
}

/// The price tables and the assumptions `POST /tasks/estimate` uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingConfig {
    /// ISO 4217 code of every amount below and of the ledger.
    pub currency: String,
    /// Per second of audio, by ASR provider name (`volcano`, `azure`, `openai-asr`,
    /// `local-whisper`).
    pub asr_per_second: BTreeMap<String, Micros>,
    /// Per API call, by voiceprint provider name (`iflytek`, `local-campplus`).
    pub voiceprint_per_call: BTreeMap<String, Micros>,
    /// Per 1 000 tokens, by `provider` or, more specific, `provider/model`.
    pub llm: BTreeMap<String, TokenPrice>,
    pub estimate: EstimateAssumptions,
}

/// What an estimate assumes about a meeting it has not heard yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimateAssumptions {
    /// Transcript tokens per second of audio sent to the model (speech is ~2.5 words/s).
    pub input_tokens_per_audio_second: u64,
    /// Instructions and schema sent with every generation call.
    pub prompt_overhead_tokens: u64,
    /// Tokens of one generated artifact.
    pub output_tokens_per_artifact: u64,
    /// Speakers expected when identification runs (one voiceprint call per sample).
    pub speakers: u64,
}

impl PricingConfig {
    pub fn asr(&self, provider: &str) -> Option<Micros> {
        self.asr_per_second.get(provider).copied()
    }

    pub fn voiceprint(&self, provider: &str) -> Option<Micros> {
        self.voiceprint_per_call.get(provider).copied()
    }

    /// The model's own row if there is one, else the provider's.
    pub fn llm(&self, provider: &str, model: &str) -> Option<TokenPrice> {
        self.llm
            .get(&format!("{provider}/{model}"))
            .or_else(|| self.llm.get(provider))
            .copied()
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.currency;
        if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ConfigError::Invalid {
                key: "pricing.currency",
                reason: format!("`{c}` is not an ISO 4217 code like CNY"),
            });
        }
        if self.estimate.output_tokens_per_artifact == 0 {
            return Err(ConfigError::Invalid {
                key: "pricing.estimate.output_tokens_per_artifact",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_amounts_are_exact_micros() {
        assert_eq!(Micros::parse("0.00005"), Ok(Micros(50)));
        assert_eq!(Micros::parse("0.002"), Ok(Micros(2_000)));
        assert_eq!(Micros::parse("12"), Ok(Micros(12_000_000)));
        assert_eq!(Micros::parse("1.5"), Ok(Micros(1_500_000)));
        for bad in ["", "-1", "0.0000001", "1e-5", "abc", "1.", ".5", "1 000"] {
            assert!(Micros::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(Micros(50).to_decimal_string(), "0.00005");
        assert_eq!(Micros(2_500_000).to_decimal_string(), "2.5000");
        assert_eq!(Micros(123_456).display_units(), 0.1235);
    }

    #[test]
    fn yaml_numbers_and_strings_read_the_same() {
        let p: BTreeMap<String, Micros> =
            serde_yaml::from_str("a: 0.00005\nb: \"0.00005\"\nc: 3\n").unwrap();
        assert_eq!(p["a"], Micros(50));
        assert_eq!(p["b"], Micros(50));
        assert_eq!(p["c"], Micros(3_000_000));
        assert!(serde_yaml::from_str::<BTreeMap<String, Micros>>("a: -0.1\n").is_err());
    }
}

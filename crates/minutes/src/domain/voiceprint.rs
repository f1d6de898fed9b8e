//! The speakers registry's domain: the consent record an enrollment needs, the enrolled
//! speakers a voiceprint engine identifies against, and the registry states.
use chrono::{DateTime, Utc};

/// Registry states. `enrolling` → `active` | `failed` (the enrollment job); any → `erasing`
/// (a provider feature remains to be deleted) → `erased`, or straight to `erased`.
pub mod state {
    pub const ENROLLING: &str = "enrolling";
    pub const ACTIVE: &str = "active";
    pub const FAILED: &str = "failed";
    pub const ERASING: &str = "erasing";
    pub const ERASED: &str = "erased";
}

/// How consent was given.
pub const CONSENT_METHODS: [&str; 3] = ["written", "electronic", "verbal_recorded"];

/// Longest name, subject, reference or version accepted (characters).
const MAX_SHORT: usize = 128;
/// Longest consent wording accepted (characters).
const MAX_TEXT: usize = 4000;
/// Consent recorded as given later than this (clock skew) is refused.
const MAX_FUTURE_SECS: i64 = 300;

/// A speaker's consent to voiceprint enrollment, as recorded with the enrollment.
#[derive(Debug, Clone, PartialEq)]
pub struct Consent {
    /// Who consented, as they named themselves (usually the enrolled person).
    pub subject: String,
    /// The wording they agreed to; or `reference` to where it is kept (a signed form's id).
    pub text: Option<String>,
    pub reference: Option<String>,
    /// `written`, `electronic` or `verbal_recorded`.
    pub method: String,
    /// The version of the consent wording or policy.
    pub version: String,
    pub given_at: DateTime<Utc>,
}

/// The consent fields of an enrollment request, as sent.
#[derive(Debug, Clone, Default)]
pub struct ConsentInput {
    pub given: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub reference: Option<String>,
    pub method: Option<String>,
    pub version: Option<String>,
    pub given_at: Option<String>,
}

/// One field that failed validation: (field name, message).
pub type FieldProblem = (&'static str, String);

impl Consent {
    /// A consent record, or every field that is wrong. Consent must be given explicitly
    /// (`consent_given=true`), name its subject and carry the wording or a reference to it.
    pub fn parse(input: &ConsentInput, now: DateTime<Utc>) -> Result<Consent, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let given = input.given.as_deref().map(str::trim);
        if !matches!(given, Some("true") | Some("1") | Some("yes")) {
            problems.push((
                "consent_given",
                "voiceprint enrollment needs the speaker's explicit consent: send consent_given=true".into(),
            ));
        }
        let subject = short(&mut problems, "consent_subject", input.subject.as_deref());
        if subject.is_none() && !problems.iter().any(|(f, _)| *f == "consent_subject") {
            problems.push(("consent_subject", "who gave consent is required".into()));
        }
        let text = input
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if text.is_some_and(|t| t.chars().count() > MAX_TEXT) {
            problems.push(("consent_text", format!("at most {MAX_TEXT} characters")));
        }
        let reference = short(
            &mut problems,
            "consent_reference",
            input.reference.as_deref(),
        );
        if text.is_none() && reference.is_none() {
            problems.push((
                "consent_text",
                "give the consent wording (consent_text) or where it is kept (consent_reference)"
                    .into(),
            ));
        }
        let method = input
            .method
            .as_deref()
            .map(str::trim)
            .unwrap_or("electronic");
        if !CONSENT_METHODS.contains(&method) {
            problems.push((
                "consent_method",
                format!("one of {}", CONSENT_METHODS.join(", ")),
            ));
        }
        let version = short(&mut problems, "consent_version", input.version.as_deref())
            .unwrap_or_else(|| "1".into());
        let given_at = match input.given_at.as_deref().map(str::trim) {
            None | Some("") => now,
            Some(raw) => match DateTime::parse_from_rfc3339(raw) {
                Ok(t)
                    if t.with_timezone(&Utc)
                        <= now + chrono::Duration::seconds(MAX_FUTURE_SECS) =>
                {
                    t.with_timezone(&Utc)
                }
                Ok(_) => {
                    problems.push(("consented_at", "lies in the future".into()));
                    now
                }
                Err(_) => {
                    problems.push((
                        "consented_at",
                        "an RFC 3339 time, e.g. 2025-06-16T09:30:00Z".into(),
                    ));
                    now
                }
            },
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Consent {
            subject: subject.unwrap_or_default(),
            text: text.map(str::to_string),
            reference,
            method: method.to_string(),
            version,
            given_at,
        })
    }
}

/// A trimmed, non-empty value of at most `MAX_SHORT` characters without control characters.
fn short(
    problems: &mut Vec<FieldProblem>,
    field: &'static str,
    raw: Option<&str>,
) -> Option<String> {
    let value = raw.map(str::trim).filter(|v| !v.is_empty())?;
    if value.chars().count() > MAX_SHORT || value.chars().any(char::is_control) {
        problems.push((
            field,
            format!("at most {MAX_SHORT} characters, no control characters"),
        ));
        return None;
    }
    Some(value.to_string())
}

/// A registry name: trimmed, 1–128 characters, no control characters.
pub fn parse_name(raw: Option<&str>) -> Result<String, FieldProblem> {
    let mut problems = Vec::new();
    match short(&mut problems, "name", raw) {
        Some(name) => Ok(name),
        None => Err(problems
            .pop()
            .unwrap_or(("name", "the speaker's name is required".into()))),
    }
}

/// One stored embedding of an enrolled speaker (local engines only).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEmbedding {
    /// The embedding engine (`campplus`); vectors of different engines are never compared.
    pub model: String,
    pub vector: Vec<f32>,
    /// Seconds of speech it was computed from.
    pub speech_secs: f64,
}

/// An active speaker of a tenant's registry, as identification sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrolledSpeaker {
    pub speaker_id: String,
    pub name: String,
    /// The provider's feature id (remote engines search by it).
    pub feature_id: Option<String>,
    /// The local engine's embeddings (empty for remote engines).
    pub embeddings: Vec<StoredEmbedding>,
}

/// The registry one tenant's identification runs against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VoiceprintRegistry {
    pub tenant_id: String,
    pub speakers: Vec<EnrolledSpeaker>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ConsentInput {
        ConsentInput {
            given: Some("true".into()),
            subject: Some("Sarah Kim".into()),
            text: Some("I agree that my voiceprint is stored to name me in minutes.".into()),
            ..Default::default()
        }
    }

    #[test]
    fn consent_needs_an_explicit_yes_a_subject_and_the_wording_or_a_reference() {
        let now = Utc::now();
        let c = Consent::parse(&input(), now).unwrap();
        assert_eq!((c.method.as_str(), c.version.as_str()), ("electronic", "1"));
        assert_eq!(c.given_at, now);

        let fields = |i: &ConsentInput| -> Vec<&'static str> {
            Consent::parse(i, now)
                .unwrap_err()
                .into_iter()
                .map(|(f, _)| f)
                .collect()
        };
        assert_eq!(
            fields(&ConsentInput {
                given: Some("false".into()),
                ..input()
            }),
            ["consent_given"]
        );
        assert_eq!(
            fields(&ConsentInput {
                given: None,
                ..input()
            }),
            ["consent_given"]
        );
        assert_eq!(
            fields(&ConsentInput {
                subject: Some("  ".into()),
                ..input()
            }),
            ["consent_subject"]
        );
        assert_eq!(
            fields(&ConsentInput {
                text: None,
                ..input()
            }),
            ["consent_text"]
        );
        assert!(Consent::parse(
            &ConsentInput {
                text: None,
                reference: Some("HR-form-17".into()),
                ..input()
            },
            now
        )
        .is_ok());
        assert_eq!(
            fields(&ConsentInput {
                method: Some("telepathy".into()),
                ..input()
            }),
            ["consent_method"]
        );
        let future = (now + chrono::Duration::hours(1)).to_rfc3339();
        assert_eq!(
            fields(&ConsentInput {
                given_at: Some(future),
                ..input()
            }),
            ["consented_at"]
        );
        assert_eq!(
            fields(&ConsentInput {
                given_at: Some("yesterday".into()),
                ..input()
            }),
            ["consented_at"]
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name(Some("  Sarah Kim ")).unwrap(), "Sarah Kim");
        assert_eq!(parse_name(None).unwrap_err().0, "name");
        assert_eq!(parse_name(Some(&"x".repeat(129))).unwrap_err().0, "name");
        assert_eq!(parse_name(Some("a\u{0}b")).unwrap_err().0, "name");
    }
}

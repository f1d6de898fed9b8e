//! Enroll people from one meeting, identify them in another, reject someone never enrolled.

use minutes_speaker::identify::{identify, top_k, Thresholds};

use crate::helpers::clip_embedding;

fn enrolled() -> Vec<(String, Vec<f32>)> {
    ["david", "sarah"]
        .map(|name| (name.to_string(), clip_embedding(&format!("{name}_en02"))))
        .to_vec()
}

#[test]
fn identifies_enrolled_people_in_another_meeting() {
    let enrolled = enrolled();
    for name in ["david", "sarah"] {
        let probe = clip_embedding(&format!("{name}_en03"));
        let top = top_k(&probe, &enrolled, 2);
        println!("{name}_en03: {top:?}");
        let found = identify(&probe, &enrolled, &Thresholds::CAMPLUS);
        assert_eq!(found.map(|c| c.name), Some(name), "{top:?}");
    }
}

#[test]
fn rejects_a_person_who_was_never_enrolled() {
    let probe = clip_embedding("marcus_en01");
    let enrolled = enrolled();
    let top = top_k(&probe, &enrolled, 2);
    println!("marcus_en01: {top:?}");
    assert_eq!(
        identify(&probe, &enrolled, &Thresholds::CAMPLUS),
        None,
        "{top:?}"
    );
}

//! Which backups to keep: the newest of each of the last `daily` days, `weekly` ISO weeks and
//! `monthly` months that have a backup, plus the newest of every day of the last `min_days`
//! days, plus always the newest backup. Everything else is pruned.
use std::collections::HashSet;

use chrono::{DateTime, Datelike, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    pub daily: usize,
    pub weekly: usize,
    pub monthly: usize,
    /// Days for which one backup per day is always kept.
    pub min_days: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            daily: 7,
            weekly: 4,
            monthly: 12,
            min_days: 30,
        }
    }
}

/// The ids of `backups` (id, time) to keep at `now`.
pub fn keep(
    backups: &[(String, DateTime<Utc>)],
    policy: &Retention,
    now: DateTime<Utc>,
) -> HashSet<String> {
    let mut newest_first: Vec<&(String, DateTime<Utc>)> = backups.iter().collect();
    newest_first.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    let mut kept = HashSet::new();
    if let Some(first) = newest_first.first() {
        kept.insert(first.0.clone());
    }
    let mut bucket = |count: usize, period: &dyn Fn(&DateTime<Utc>) -> (i32, u32)| {
        let mut seen: Vec<(i32, u32)> = Vec::new();
        for (id, at) in &newest_first {
            let p = period(at);
            if seen.contains(&p) {
                continue;
            }
            if seen.len() == count {
                break;
            }
            seen.push(p);
            kept.insert(id.clone());
        }
    };
    bucket(policy.daily, &|t| (t.year(), t.ordinal()));
    bucket(policy.weekly, &|t| {
        (t.iso_week().year(), t.iso_week().week())
    });
    bucket(policy.monthly, &|t| (t.year(), t.month()));
    let since = now - Duration::days(policy.min_days);
    let mut days: Vec<(i32, u32)> = Vec::new();
    for (id, at) in &newest_first {
        let day = (at.year(), at.ordinal());
        if *at >= since && !days.contains(&day) {
            days.push(day);
            kept.insert(id.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days_ago: i64, hour: u32, now: DateTime<Utc>) -> DateTime<Utc> {
        let day = (now - Duration::days(days_ago)).date_naive();
        day.and_hms_opt(hour, 0, 0).unwrap().and_utc()
    }

    #[test]
    fn a_year_of_backups_twice_a_day_keeps_thirty_days_of_dailies_weeklies_and_monthlies() {
        let now = DateTime::parse_from_rfc3339("2026-12-08T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut backups = Vec::new();
        for d in 0..400 {
            for h in [2, 14] {
                let t = at(d, h, now);
                if t <= now {
                    backups.push((format!("b-{d}-{h}"), t));
                }
            }
        }
        let kept = keep(&backups, &Retention::default(), now);
        // Today's newest is the 02:00 one (14:00 is still ahead).
        assert!(kept.contains("b-0-2"));
        // One per day for the last 30 days (the 31st day back is at the edge): the later one.
        for d in 1..30 {
            assert!(kept.contains(&format!("b-{d}-14")), "day {d}");
            assert!(!kept.contains(&format!("b-{d}-2")), "day {d} early");
        }
        // Beyond 30 days only weekly and monthly survivors; nothing older than a year.
        let old: Vec<&String> = kept
            .iter()
            .filter(|id| id.split('-').nth(1).unwrap().parse::<i64>().unwrap() > 31)
            .collect();
        assert!(!old.is_empty() && old.len() <= 12, "{old:?}");
        assert!(kept
            .iter()
            .all(|id| id.split('-').nth(1).unwrap().parse::<i64>().unwrap() < 366));
        assert!(kept.len() <= 1 + 30 + 4 + 12);
    }

    #[test]
    fn the_newest_backup_is_always_kept_even_with_zero_counts() {
        let now = Utc::now();
        let backups = vec![
            ("old".to_string(), now - Duration::days(500)),
            ("older".to_string(), now - Duration::days(900)),
        ];
        let policy = Retention {
            daily: 0,
            weekly: 0,
            monthly: 0,
            min_days: 0,
        };
        assert_eq!(
            keep(&backups, &policy, now),
            HashSet::from(["old".to_string()])
        );
        assert!(keep(&[], &policy, now).is_empty());
    }
}

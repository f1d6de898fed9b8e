use serde_json::{json, Value};

use super::*;
use crate::domain::artifact::validate_content;

fn lines(rows: &[(&str, &str, &str)]) -> Vec<SourceLine> {
    rows.iter()
        .map(|(id, speaker, text)| SourceLine {
            segment_id: Some(id.to_string()),
            speaker: speaker.to_string(),
            text: text.to_string(),
        })
        .collect()
}

fn english() -> Vec<SourceLine> {
    lines(&[
        ("seg_0001", "Priya", "Good morning everyone, let's plan the sprint."),
        ("seg_0002", "Marcus", "The staging cluster keeps running out of memory and it is blocking the release."),
        ("seg_0003", "Priya", "We decided to move staging to Kubernetes next sprint. The staging cluster costs too much memory anyway."),
        ("seg_0004", "Marcus", "I’ll upgrade Postgres by Friday."),
        ("seg_0005", "Priya", "Marcus, can you also send the migration plan by Wednesday?"),
        ("seg_0006", "Priya", "Lena will write the rollback runbook next week."),
        ("seg_0007", "Lena", "Are we sure the vendor contract covers the extra Kubernetes nodes?"),
        ("seg_0008", "Marcus", "My concern is that the Kubernetes migration might slip past the release date."),
        ("seg_0009", "Priya", "We agreed to freeze features on Thursday."),
        ("seg_0010", "Lena", "The memory graphs for the staging cluster show the leak started after the Kubernetes test."),
    ])
}

fn chinese() -> Vec<SourceLine> {
    lines(&[
        ("seg_0001", "王芳", "今天我们复盘一下订单服务昨晚的故障。"),
        ("seg_0002", "张伟", "Redis 连接池耗尽，导致订单接口超时。"),
        ("seg_0003", "王芳", "我们决定把连接池上限从五十调整到两百。"),
        ("seg_0004", "张伟", "我来负责修改连接池配置，周五前上线。"),
        ("seg_0005", "王芳", "监控告警由李娜负责，下周一之前补齐。"),
        ("seg_0006", "李娜", "好的，没问题。"),
        ("seg_0007", "李娜", "压测环境什么时候能准备好？"),
        (
            "seg_0008",
            "张伟",
            "我担心大促期间流量还会翻倍，存在容量风险。",
        ),
        (
            "seg_0009",
            "王芳",
            "订单服务的连接池监控和订单接口告警都要覆盖。",
        ),
    ])
}

fn minutes(rows: &[SourceLine], language: &str, meeting_type: &str) -> Value {
    let raw = compose(
        ArtifactType::MeetingMinutes,
        rows,
        Some(language),
        Some(meeting_type),
    )
    .expect("serializes");
    let ids: Vec<String> = rows.iter().filter_map(|l| l.segment_id.clone()).collect();
    let valid = validate_content(ArtifactType::MeetingMinutes, &raw, &ids).expect("schema-valid");
    assert!(valid.dropped_citations.is_empty(), "{raw}");
    raw
}

fn action<'a>(m: &'a Value, needle: &str) -> &'a Value {
    m["action_items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|a| a["task"].as_str().is_some_and(|t| t.contains(needle)))
        .unwrap_or_else(|| panic!("no action item with {needle}: {m:#}"))
}

#[test]
fn extractive_english_minutes_have_owners_dues_decisions_and_citations() {
    let m = minutes(&english(), "en-US", "sprint");
    assert_eq!(m["participants"], json!(["Priya", "Marcus", "Lena"]));
    let title = m["title"].as_str().expect("title");
    assert!(title.starts_with("Sprint meeting: "), "{title}");
    assert!(
        title.contains("Kubernetes") && title.contains("staging"),
        "{title}"
    );
    assert!(!m["summary"].as_str().expect("summary").is_empty());

    let pg = action(&m, "Upgrade Postgres");
    assert_eq!(pg["owner"], "Marcus");
    assert_eq!(pg["due"], "Friday");
    assert_eq!(pg["segment_ids"], json!(["seg_0004"]));
    let plan = action(&m, "Send the migration plan");
    assert_eq!(plan["owner"], "Marcus");
    assert_eq!(plan["due"], "Wednesday");
    assert_eq!(plan["segment_ids"], json!(["seg_0005"]));
    let runbook = action(&m, "Write the rollback runbook");
    assert_eq!(runbook["owner"], "Lena");
    assert_eq!(runbook["due"], "next week");
    assert_eq!(m["action_items"].as_array().map(Vec::len), Some(3), "{m:#}");

    let decisions: Vec<&str> = m["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .map(|d| d["text"].as_str().expect("text"))
        .collect();
    assert_eq!(
        decisions,
        [
            "We decided to move staging to Kubernetes next sprint",
            "We agreed to freeze features on Thursday"
        ]
    );
    assert_eq!(m["decisions"][0]["segment_ids"], json!(["seg_0003"]));
    assert_eq!(
        m["open_questions"],
        json!(["Are we sure the vendor contract covers the extra Kubernetes nodes?"])
    );
    let risks = m["risks"].as_array().expect("risks");
    assert!(risks.iter().any(|r| r
        .as_str()
        .is_some_and(|r| r.contains("blocking the release"))));
    assert!(risks
        .iter()
        .any(|r| r.as_str().is_some_and(|r| r.contains("might slip"))));
}

#[test]
fn extractive_chinese_minutes_have_owners_dues_decisions_and_citations() {
    let m = minutes(&chinese(), "zh-CN", "incident");
    assert_eq!(m["participants"], json!(["王芳", "张伟", "李娜"]));
    let title = m["title"].as_str().expect("title");
    assert!(title.starts_with("故障复盘会议："), "{title}");
    assert!(
        title.contains("连接池") || title.contains("订单"),
        "{title}"
    );

    let config = action(&m, "修改连接池配置");
    assert_eq!(config["owner"], "张伟");
    assert_eq!(config["due"], "周五");
    assert_eq!(config["segment_ids"], json!(["seg_0004"]));
    let alerts = action(&m, "监控告警");
    assert_eq!(alerts["owner"], "李娜");
    assert_eq!(alerts["due"], "下周一");
    assert_eq!(alerts["segment_ids"], json!(["seg_0005"]));

    assert_eq!(
        m["decisions"],
        json!([{"text": "我们决定把连接池上限从五十调整到两百", "segment_ids": ["seg_0003"]}])
    );
    assert_eq!(m["open_questions"], json!(["压测环境什么时候能准备好？"]));
    let risks = m["risks"].as_array().expect("risks");
    assert!(risks
        .iter()
        .any(|r| r.as_str().is_some_and(|r| r.contains("容量风险"))));
    assert!(!risks
        .iter()
        .any(|r| r.as_str().is_some_and(|r| r.contains("没问题"))));
}

#[test]
fn extractive_output_is_deterministic_and_cites_only_input_segments() {
    for (rows, language) in [(english(), "en-US"), (chinese(), "zh-CN")] {
        let ids: Vec<String> = rows.iter().filter_map(|l| l.segment_id.clone()).collect();
        for t in ArtifactType::ALL {
            let a = compose(t, &rows, Some(language), Some("weekly")).expect("a");
            let b = compose(t, &rows, Some(language), Some("weekly")).expect("b");
            assert_eq!(a, b, "{t:?}");
            let v = validate_content(t, &a, &ids).expect("valid");
            assert!(v.dropped_citations.is_empty());
        }
        let items = compose(ArtifactType::ActionItems, &rows, Some(language), None).expect("items");
        let cited: Vec<&str> = items["items"]
            .as_array()
            .expect("items")
            .iter()
            .flat_map(|i| i["segment_ids"].as_array().expect("ids").iter())
            .map(|v| v.as_str().expect("id"))
            .collect();
        assert!(!cited.is_empty());
        assert!(cited.iter().all(|c| ids.iter().any(|i| i == c)));
    }
}

#[test]
fn extractive_summary_notes_group_the_findings() {
    let notes =
        compose(ArtifactType::SummaryNotes, &chinese(), Some("zh-CN"), None).expect("notes");
    let headings: Vec<&str> = notes["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .map(|s| s["heading"].as_str().expect("heading"))
        .collect();
    assert_eq!(headings, ["要点", "决定", "待办事项", "风险与待定问题"]);
    let todo = notes["sections"][2]["bullets"].to_string();
    assert!(todo.contains("（负责人：张伟；截止：周五）"), "{todo}");
    assert_eq!(
        notes["title"].as_str().map(|t| t.starts_with("会议")),
        Some(true)
    );
}

#[test]
fn extractive_empty_transcript_still_gives_valid_minutes() {
    for t in ArtifactType::ALL {
        let raw = compose(t, &[], Some("en-US"), None).expect("raw");
        validate_content(t, &raw, &[]).expect("valid");
    }
    let m = compose(ArtifactType::MeetingMinutes, &[], None, None).expect("m");
    assert_eq!(m["title"], "Meeting");
}

#[test]
fn extractive_due_phrases_in_both_languages() {
    let cases = [
        ("I'll send it by Friday.", Some("Friday")),
        ("We ship by the end of the month", Some("end of the month")),
        ("Send it before March 15th please", Some("March 15th")),
        ("Let's meet tomorrow morning", Some("tomorrow morning")),
        (
            "Done within two business days",
            Some("within two business days"),
        ),
        ("Deploy on 2024-03-15", Some("2024-03-15")),
        ("You may go now", None),
        ("周五前修复", Some("周五")),
        ("下周一之前补齐", Some("下周一")),
        ("在明天下午之前提交", Some("明天下午")),
        ("3月15日上线", Some("3月15日")),
        ("三天内给出方案", Some("三天内")),
        ("这个月底完成", Some("这个月底")),
        ("在上线之前做完压测", Some("上线之前")),
        ("周报写得不错", None),
    ];
    for (text, want) in cases {
        assert_eq!(
            due::find(text).map(|d| d.text),
            want.map(str::to_string),
            "{text}"
        );
    }
}

#[test]
fn extractive_rules_find_owners_in_common_phrasings() {
    let people = vec!["Priya Patel".to_string(), "赵磊".to_string()];
    let check = |speaker: &str, text: &str| {
        let s = sentences::sentences(&[SourceLine {
            segment_id: None,
            speaker: speaker.into(),
            text: text.into(),
        }]);
        rules::action(&s[0], &people).map(|a| (a.owner, a.task, a.due))
    };
    let some = |o: &str, t: &str, d: Option<&str>| {
        Some((Some(o.to_string()), t.to_string(), d.map(str::to_string)))
    };
    assert_eq!(
        check(
            "Marcus",
            "OK, Priya Patel is going to review the budget by next Monday."
        ),
        some("Priya Patel", "Review the budget", Some("next Monday"))
    );
    assert_eq!(
        check("Marcus", "Can you update the dashboard, Lena?"),
        some("Lena", "Update the dashboard", None)
    );
    assert_eq!(check("Marcus", "I'll be honest with you."), None);
    assert_eq!(check("Marcus", "Can you hear me?"), None);
    assert_eq!(check("Marcus", "Testing will take a while."), None);
    assert_eq!(
        check("王芳", "接口文档交给赵磊，明天发出来。"),
        some("赵磊", "发出来", Some("明天")).map(|(o, _, d)| (
            o,
            "接口文档交给赵磊，明天发出来".to_string(),
            d
        ))
    );
    assert_eq!(
        check("王芳", "我明天把会议纪要发给大家。"),
        some("王芳", "把会议纪要发给大家", Some("明天"))
    );
    assert_eq!(check("王芳", "由于时间紧张，我们先讨论第一项。"), None);
}

#[test]
fn extractive_sentences_split_in_both_languages_and_keep_abbreviations() {
    assert_eq!(
        sentences::split("Dr. Smith agreed. Version 2.5 ships! Right?"),
        ["Dr. Smith agreed.", "Version 2.5 ships!", "Right?"]
    );
    assert_eq!(
        sentences::split("先复盘。然后定方案！好吗？"),
        ["先复盘。", "然后定方案！", "好吗？"]
    );
    let words: Vec<String> = sentences::content_words("Marcus's Redis 连接池耗尽了")
        .into_iter()
        .map(|w| w.key)
        .collect();
    assert!(words.contains(&"marcus".to_string()) && words.contains(&"redis".to_string()));
    assert!(words.iter().any(|w| w.contains("连接")), "{words:?}");
}

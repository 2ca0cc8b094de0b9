//! The ceremony report: HTML and Markdown, rendered in headless Chromium,
//! with a verdict that turns to failed on a tampered transcript.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{ok, text, Env};

/// Headless Chromium's DOM of `html`, bounded in time.
fn render(env: &Env, html: &std::path::Path) -> String {
    let profile = env.path("chromium-profile");
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", html.display()),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromium runs (is Debian's chromium installed?)");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("output");
    assert!(out.status.success(), "chromium failed");
    text(&out.stdout)
}

#[test]
fn the_report_renders_its_sections_and_its_verdict_follows_the_transcript() {
    let env = Env::new();
    common::root_init(&env);
    ok(&env.run(&[
        "transcript",
        "note",
        "transcript.jsonl",
        "power flickered at 10:02, no effect",
        "--author",
        "Demo Operator",
    ]));
    let out = ok(&env.run(&[
        "report",
        "transcript.jsonl",
        "--out",
        "report",
        "--checkpoint",
        "checkpoint",
        "--audit-key",
        "pki/audit-key.pub",
    ]));
    assert!(out.contains("VERIFIED"), "{out}");
    // The note after the last checkpoint is named as not covered.
    let entries = env.events("transcript.jsonl").len();
    assert!(
        out.contains(&format!(
            "; not covered: the last entry (entry {}) is covered by no checkpoint, only by the hash chain",
            entries - 1
        )),
        "{out}"
    );
    let html = std::fs::read_to_string(env.path("report/report.html")).expect("html");
    let md = std::fs::read_to_string(env.path("report/report.md")).expect("markdown");
    for forbidden in ["http://", "https://", "<script", " src=", "<link"] {
        assert!(!html.contains(forbidden), "the report loads {forbidden}");
    }
    let dom = render(&env, &env.path("report/report.html"));
    for needle in [
        "Ceremony report",
        "class=\"verdict ok\"",
        "Verification: VERIFIED",
        "Ceremony 1: root-init",
        "Demo Operator",
        "Demo Witness One",
        "yes: acknowledgements came from a file",
        "SoftHSM project",
        "Acknowledgements",
        "Keys generated",
        "cluster-root-ca",
        "never_extractable=true",
        "Certificates issued",
        "CN=kubernetes",
        "Rejections and refusals",
        "Checkpoints",
        "demo cluster PKI",
        "power flickered at 10:02",
        "Signatures",
        "Witness: Demo Witness Two",
    ] {
        assert!(dom.contains(needle), "the rendered report lacks {needle:?}");
        assert!(
            md.contains(&needle.replace("class=\"verdict ok\"", "**Verification: VERIFIED")),
            "report.md lacks {needle:?}"
        );
    }

    // A tampered transcript: the report is still written, under a FAILED verdict.
    let transcript = std::fs::read_to_string(env.path("transcript.jsonl")).expect("read");
    std::fs::write(
        env.path("transcript.jsonl"),
        transcript.replacen("CN=etcd-ca", "CN=etcd-cb", 1),
    )
    .expect("write");
    let out = env.run(&[
        "report",
        "transcript.jsonl",
        "--out",
        "report2",
        "--checkpoint",
        "checkpoint",
        "--audit-key",
        "pki/audit-key.pub",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stdout).contains("FAILED: transcript transcript.jsonl: entry"),
        "{}",
        text(&out.stdout)
    );
    let dom = render(&env, &env.path("report2/report.html"));
    assert!(
        dom.contains("class=\"verdict failed\""),
        "verdict not failed"
    );
    assert!(dom.contains("Verification: FAILED"), "verdict not failed");
    assert!(
        dom.contains("content does not match its hash"),
        "the reason is shown"
    );

    // Reports are never overwritten.
    let out = env.run(&["report", "transcript.jsonl", "--out", "report"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("report.html"),
        "{}",
        text(&out.stderr)
    );
}

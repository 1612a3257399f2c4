//! Fuzz target: a user-supplied message template folder (`subject.txt`, `body.txt`, optional
//! `body.html`, as `[actions] templates` points to) loaded by `Templates::load` and rendered with the
//! sample context, optionally with fuzzed event properties. Never panics; a rendered subject is one
//! line (no header injection), bodies end with a newline.
//!
//! Input: `subject NUL body [NUL html [NUL properties-json]]`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use seen::templates::{sample_context, Templates};

fn folder() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("fuzz")).expect("message folder");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\0');
    let subject = parts.next().unwrap_or_default();
    let Some(body) = parts.next() else {
        return;
    };
    let html = parts.next();
    let properties = parts.next();

    let dir = folder();
    let message = dir.path().join("fuzz");
    std::fs::write(message.join("subject.txt"), subject).expect("write subject");
    std::fs::write(message.join("body.txt"), body).expect("write body");
    let html_path = message.join("body.html");
    match html {
        Some(html) => std::fs::write(&html_path, html).expect("write html"),
        None => {
            let _ = std::fs::remove_file(&html_path);
        }
    }
    let Ok(templates) = Templates::load(Some(dir.path())) else {
        return;
    };
    assert!(templates.has("fuzz"));
    let mut context = sample_context();
    if let Some(properties) = properties.and_then(|p| serde_json::from_str(p).ok()) {
        context.event.properties = properties;
    }
    let Ok(rendered) = templates.render("fuzz", &context) else {
        return;
    };
    assert!(
        !rendered.subject.contains(['\r', '\n']),
        "the subject is one line: {:?}",
        rendered.subject
    );
    assert!(rendered.text.is_empty() || rendered.text.ends_with('\n'));
    assert_eq!(rendered.html.is_some(), html.is_some());
    if let Some(html) = &rendered.html {
        assert!(html.ends_with('\n'));
    }
});

//! Times as the dashboard shows them: in the business's time zone (`[server] timezone`), each wrapped in
//! `<time>` whose `datetime` and hover title give the UTC instant.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use minijinja::Value;

/// Formats instants for the pages in one time zone.
#[derive(Debug, Clone)]
pub struct Times {
    zone: TimeZone,
}

impl Times {
    pub fn new(zone: TimeZone) -> Times {
        Times { zone }
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The wall-clock text in the business's zone: "Wed 14 Jan 2026 10:14".
    pub fn text(&self, t: Timestamp) -> String {
        t.to_zoned(self.zone.clone())
            .strftime("%a %-d %b %Y %H:%M")
            .to_string()
    }

    /// `<time datetime="2026-01-14T09:14:00Z" title="2026-01-14 09:14:00 UTC">Wed 14 Jan 2026 10:14</time>`,
    /// marked safe for the templates: every part is a formatted number or an English day or month name,
    /// never input.
    pub fn html(&self, t: Timestamp) -> Value {
        Value::from_safe_string(format!(
            r#"<time datetime="{}" title="{}">{}</time>"#,
            t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            t.strftime("%Y-%m-%d %H:%M:%S UTC"),
            self.text(t)
        ))
    }

    /// `html`, or none (which templates show with `or ""`).
    pub fn maybe(&self, t: Option<Timestamp>) -> Value {
        t.map(|t| self.html(t)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_text_with_the_utc_instant_on_hover() {
        let times = Times::new(TimeZone::get("Europe/Lisbon").unwrap());
        let t: Timestamp = "2026-07-14T09:14:00Z".parse().unwrap();
        assert_eq!(
            times.html(t).to_string(),
            r#"<time datetime="2026-07-14T09:14:00Z" title="2026-07-14 09:14:00 UTC">Tue 14 Jul 2026 10:14</time>"#
        );
        // Winter: Lisbon is on UTC.
        let winter: Timestamp = "2026-01-14T09:14:00Z".parse().unwrap();
        assert_eq!(times.text(winter), "Wed 14 Jan 2026 09:14");
        // Safe in a template (not escaped again), and kept so through a serialized struct.
        let env = minijinja::Environment::new();
        #[derive(serde::Serialize)]
        struct Row {
            at: Value,
        }
        let out = env
            .render_str(
                "{% autoescape true %}{{ a }}|{{ row.at }}|{{ none_at or '' }}{% endautoescape %}",
                minijinja::context! { a => times.html(t), row => Row { at: times.html(t) }, none_at => times.maybe(None) },
            )
            .unwrap();
        assert_eq!(out.matches("<time datetime=").count(), 2, "{out}");
        assert!(out.ends_with('|'), "{out}");
    }
}

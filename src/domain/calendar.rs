//! TEMPORARY stub: replaced by the real business-time calendar.
use jiff::{SignedDuration, Timestamp};
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("{0}")]
    Bad(String),
}
#[derive(Debug, Clone)]
pub struct Calendar {
    name: String,
    tz: jiff::tz::TimeZone,
}
impl Calendar {
    pub fn new(
        name: &str,
        timezone: &str,
        _hours: &std::collections::BTreeMap<String, Vec<String>>,
        _holidays: &[String],
    ) -> Result<Calendar, CalendarError> {
        Ok(Calendar {
            name: name.into(),
            tz: jiff::tz::TimeZone::get(timezone).map_err(|e| CalendarError::Bad(e.to_string()))?,
        })
    }
    pub fn default_office(timezone: &str) -> Result<Calendar, CalendarError> {
        Self::new("office", timezone, &Default::default(), &[])
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn timezone(&self) -> &jiff::tz::TimeZone {
        &self.tz
    }
    pub fn is_open(&self, _t: Timestamp) -> bool {
        true
    }
    pub fn add(&self, start: Timestamp, span: SignedDuration) -> Result<Timestamp, CalendarError> {
        start
            .checked_add(span)
            .map_err(|e| CalendarError::Bad(e.to_string()))
    }
    pub fn open_between(&self, a: Timestamp, b: Timestamp) -> SignedDuration {
        b.duration_since(a)
    }
}

//! Durations written the way people write them: `90s`, `10m`, `7d`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        HumanDuration(Duration::from_secs(secs))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parsed = humantime::parse_duration(text.trim())
            .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a duration like 90s, 10m or 7d ({e})")))?;
        if parsed.is_zero() {
            return Err(serde::de::Error::custom("a duration of zero is not allowed"));
        }
        Ok(HumanDuration(parsed))
    }
}

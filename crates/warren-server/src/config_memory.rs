//! The `[memory]` section: the memory high watermark (RabbitMQ's memory alarm).

use serde::Deserialize;

/// Memory settings; see `config/warren.toml` for each key.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemorySection {
    /// Above this many bytes of resident memory, publishers are blocked until it falls back;
    /// 0 turns the alarm off. Unset: `high_watermark_fraction` of the machine's RAM.
    pub high_watermark: Option<u64>,
    /// The watermark as a fraction of total RAM, used when `high_watermark` is unset
    /// (RabbitMQ's default is 0.4).
    pub high_watermark_fraction: f64,
}

impl Default for MemorySection {
    fn default() -> Self {
        Self {
            high_watermark: None,
            high_watermark_fraction: 0.4,
        }
    }
}

impl MemorySection {
    /// The watermark in bytes for a machine with `total_ram` bytes (0: off).
    pub fn watermark(&self, total_ram: Option<u64>) -> u64 {
        match (self.high_watermark, total_ram) {
            (Some(bytes), _) => bytes,
            // Unknown RAM: no alarm rather than a guess that blocks every publisher.
            (None, None) => 0,
            (None, Some(total)) => (total as f64 * self.high_watermark_fraction) as u64,
        }
    }

    /// A fraction outside (0, 1] makes no sense.
    pub fn validate(&self) -> Result<(), String> {
        let fraction = self.high_watermark_fraction;
        if fraction > 0.0 && fraction <= 1.0 {
            Ok(())
        } else {
            Err("memory.high_watermark_fraction must be above 0 and at most 1".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_win_over_the_fraction_and_unknown_ram_turns_it_off() {
        let mut memory = MemorySection::default();
        assert_eq!(memory.watermark(Some(1000)), 400);
        assert_eq!(memory.watermark(None), 0);
        memory.high_watermark = Some(5);
        assert_eq!(memory.watermark(Some(1000)), 5);
        memory.high_watermark_fraction = 1.5;
        assert!(memory.validate().is_err());
    }
}

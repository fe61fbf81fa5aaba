//! Changing the throttle of a running backfill: a small `key = value` control file, re-read
//! whenever it changes (`--control FILE`). Keys: batch, min_batch, max_batch, sleep, max_rate,
//! target_batch_time (`off` clears the last two) and `pause = true|false`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::throttle::ThrottleSettings;

/// Settings applied from the control file on top of the command line's.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub throttle: ThrottleSettings,
    pub paused: bool,
}

/// Parse the control file text, starting from `base`. Errors name the line.
pub fn parse(text: &str, base: &ThrottleSettings) -> Result<Control, String> {
    let mut c = Control { throttle: base.clone(), paused: false };
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |msg: String| format!("line {}: {msg}", n + 1);
        let (key, value) =
            line.split_once('=').ok_or_else(|| at(format!("expected `key = value`, got `{line}`")))?;
        let (key, value) = (key.trim(), value.trim());
        let off = matches!(value, "off" | "none" | "");
        let int = || value.replace('_', "").parse::<u32>().map_err(|e| at(format!("{key}: {e}")));
        let dur = || humantime::parse_duration(value).map_err(|e| at(format!("{key}: {e}")));
        match key {
            "batch" => c.throttle.batch = int()?,
            "min_batch" => c.throttle.min_batch = int()?,
            "max_batch" => c.throttle.max_batch = int()?,
            "sleep" => c.throttle.sleep = if off { Duration::ZERO } else { dur()? },
            "max_rate" if off => c.throttle.max_rate = None,
            "max_rate" => {
                c.throttle.max_rate = Some(value.parse::<f64>().map_err(|e| at(format!("{key}: {e}")))?)
            }
            "target_batch_time" if off => c.throttle.target_batch_time = None,
            "target_batch_time" => c.throttle.target_batch_time = Some(dur()?),
            "pause" => {
                c.paused =
                    value.parse::<bool>().map_err(|_| at("pause: expected true or false".to_string()))?
            }
            other => {
                return Err(at(format!(
                    "unknown key `{other}` (expected batch, min_batch, max_batch, sleep, max_rate, \
                     target_batch_time or pause)"
                )))
            }
        }
    }
    Ok(c)
}

/// Watches the control file; `poll` returns new settings when its modification time changed.
#[derive(Debug)]
pub struct ControlFile {
    path: PathBuf,
    seen: Option<SystemTime>,
}

impl ControlFile {
    pub fn new(path: &Path) -> Self {
        ControlFile { path: path.to_path_buf(), seen: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Ok(None)`: unchanged or absent. `Err`: unreadable or invalid (the old settings stay).
    pub fn poll(&mut self, base: &ThrottleSettings) -> Result<Option<Control>, String> {
        let Ok(modified) = std::fs::metadata(&self.path).and_then(|m| m.modified()) else {
            return Ok(None);
        };
        if self.seen == Some(modified) {
            return Ok(None);
        }
        self.seen = Some(modified);
        let text = std::fs::read_to_string(&self.path).map_err(|e| e.to_string())?;
        parse(&text, base).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key_and_comments() {
        let base = ThrottleSettings::default();
        let c = parse(
            "# slower tonight\nbatch = 200\nsleep = 250ms\nmax_rate = 1500\ntarget_batch_time = 100ms\n\
             min_batch=50\nmax_batch = 10_000\npause = true\n",
            &base,
        )
        .unwrap();
        assert_eq!(c.throttle.batch, 200);
        assert_eq!(c.throttle.sleep, Duration::from_millis(250));
        assert_eq!(c.throttle.max_rate, Some(1500.0));
        assert_eq!(c.throttle.target_batch_time, Some(Duration::from_millis(100)));
        assert_eq!((c.throttle.min_batch, c.throttle.max_batch), (50, 10_000));
        assert!(c.paused);
    }

    #[test]
    fn off_clears_limits_and_errors_name_the_line() {
        let base = ThrottleSettings { max_rate: Some(10.0), ..Default::default() };
        assert_eq!(parse("max_rate = off", &base).unwrap().throttle.max_rate, None);
        let err = parse("batch = 10\nspeed = 3", &base).unwrap_err();
        assert!(err.starts_with("line 2: unknown key `speed`"), "{err}");
        assert!(parse("batch = lots", &base).unwrap_err().starts_with("line 1: batch:"));
    }
}

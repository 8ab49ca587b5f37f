//! What the measurement ran on, for the report and the generated schedule's header.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// The machine and toolchain of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// CPU model, from /proc/cpuinfo.
    pub cpu: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// OS and kernel.
    pub os: String,
    /// `rustc --version` of the toolchain on PATH.
    pub rustc: String,
    /// Load average over the last minute when the run started (noise from other work).
    pub load: String,
    /// The UTC date of the run, YYYY-MM-DD.
    pub date: String,
}

impl Machine {
    /// Reads the machine's description; parts that cannot be read say `unknown`.
    pub fn read() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let kernel = read("/proc/sys/kernel/osrelease");
        let os = format!("{} {}", std::env::consts::OS, kernel.trim());
        let rustc = Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .map(|version| version.trim().to_owned())
            .filter(|version| !version.is_empty())
            .unwrap_or_else(|| "rustc unknown".to_owned());
        let load = read("/proc/loadavg")
            .split_whitespace()
            .next()
            .unwrap_or("unknown")
            .to_owned();
        Machine {
            cpu,
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            os: os.trim().to_owned(),
            rustc,
            load,
            date: today(),
        }
    }

    /// One line: CPU, cores, OS.
    pub fn summary(&self) -> String {
        format!("{}, {} logical CPUs, {}", self.cpu, self.cpus, self.os)
    }
}

/// Today's UTC date as YYYY-MM-DD.
fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() / 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!("{year:04}-{month:02}-{day:02}")
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_818), (2026, 12, 31));
    }
}

//! Slow (about a minute): runs `gas-bench --quick` as CI does and checks what it wrote. The
//! timing itself is the binary's; this test checks the run's verdict and outputs.

use std::path::PathBuf;
use std::process::Command;

use thresig_precompiles::gas::priced_schemes;

#[test]
fn slow_quick_run_passes_its_check_and_writes_the_report() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gas-bench-quick");
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(env!("CARGO_BIN_EXE_gas-bench"))
        .arg("--quick")
        .arg("--out")
        .arg(&out)
        .output()
        .expect("gas-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "gas-bench --quick failed:\n{stdout}\n{stderr}"
    );

    // One PASS line per parameter set (the schedule derived in this run keeps every set's
    // slowest input within 1.0–1.25× ecrecover's gas/s in this run), and none that failed.
    for scheme in priced_schemes() {
        let line = format!("PASS {scheme}: worst input");
        assert!(stdout.contains(&line), "no {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");
    // The held-out check is reported with a count of the same checks; how many are in band
    // depends on the machine's load, so only its form is asserted here.
    let checks = stdout
        .lines()
        .find_map(|line| line.strip_suffix(" in band"))
        .and_then(|line| line.rsplit_once(": "))
        .map(|(_, counts)| counts.to_owned())
        .unwrap_or_else(|| panic!("no held-out count in:\n{stdout}"));
    let (in_band, total) = checks.split_once(" of ").expect("N of M");
    let (in_band, total): (usize, usize) = (in_band.parse().unwrap(), total.parse().unwrap());
    assert!(
        in_band <= total && total >= priced_schemes().count(),
        "{checks}"
    );
    let out_of_band = stdout.matches("  out of band: ").count();
    assert_eq!(out_of_band, total - in_band, "{stdout}");

    // The CSV has the promised columns and rows for every path, both schedules and the anchors.
    let csv = std::fs::read_to_string(out.join("gas-report.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("precompile,function,input,schedule,gas,ns_per_call,mgas_per_s")
    );
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    assert!(
        rows.iter().all(|row| row.len() == 7),
        "7 columns in every row"
    );
    for path in ["direct", "transaction", "contract"] {
        for schedule in ["seed", "calibrated", "revm"] {
            assert!(
                rows.iter()
                    .any(|row| row[2].ends_with(&format!("path={path}")) && row[3] == schedule),
                "no {schedule} row via {path}"
            );
        }
    }
    let ecrecover = rows
        .iter()
        .find(|row| row[0] == "ecrecover" && row[2].ends_with("path=direct"))
        .unwrap();
    assert_eq!(ecrecover[4], "3000");
    for row in &rows {
        let ns: f64 = row[5].parse().unwrap();
        let mgas: f64 = row[6].parse().unwrap();
        let gas: f64 = row[4].parse().unwrap();
        assert!(ns > 0.05, "{row:?}");
        // mgas_per_s = gas / ns · 1000, from the time before it was rounded to 0.1 ns.
        let (low, high) = (gas / (ns + 0.05) * 1_000.0, gas / (ns - 0.05) * 1_000.0);
        assert!(low - 0.0005 <= mgas && mgas <= high + 0.0005, "{row:?}");
    }

    // The schedule went into DIR only, in the generator's form, and the chart is an SVG.
    let schedule = std::fs::read_to_string(out.join("calibrated_schedule.rs")).unwrap();
    assert!(schedule.contains("pub(crate) const CALIBRATED: GasSchedule"));
    assert!(schedule.contains("--quick"));
    let svg = std::fs::read_to_string(out.join("gas-report.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("ecrecover"));
    let md = std::fs::read_to_string(out.join("gas-report.md")).unwrap();
    assert!(md.contains("## Check: the slowest input per gas of each parameter set"));
    assert!(md.contains("judged on the derivation samples"));
}

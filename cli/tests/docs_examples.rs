//! docs/precompiles.md is executable: every worked example runs through the binary and prints
//! exactly the JSON the page shows, and the selector table matches the ABI.

use std::path::PathBuf;
use std::process::Command;

fn docs() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/precompiles.md");
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn every_worked_example_prints_what_the_page_says() {
    let text = docs();
    let blocks: Vec<&str> = text.split("```").collect();
    let mut examples = 0;
    for (index, block) in blocks.iter().enumerate() {
        let Some(command) = block.strip_prefix("sh\n") else {
            continue;
        };
        let command = command.trim();
        let Some(arguments) = command.strip_prefix("thresig ") else {
            continue;
        };
        let expected = blocks
            .get(index + 2)
            .and_then(|block| block.strip_prefix("json\n"))
            .unwrap_or_else(|| panic!("example {command:.60} has no json block after it"));
        let output = Command::new(env!("CARGO_BIN_EXE_thresig"))
            .args(arguments.split_whitespace())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{command:.80}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let documented: serde_json::Value = serde_json::from_str(expected.trim()).unwrap();
        assert_eq!(printed, documented, "{command:.80}");
        assert_eq!(
            printed["success"], true,
            "every worked example is a valid signature"
        );
        examples += 1;
    }
    assert_eq!(examples, 6, "one worked example per precompile function");
}

#[test]
fn the_selector_table_matches_the_abi() {
    let text = docs();
    for function in thresig_precompiles::Function::ALL {
        let selector = format!("`0x{}`", hex::encode(function.selector()));
        let address = format!("`{}`", function.address()).to_lowercase();
        let row = text
            .lines()
            .find(|line| line.contains(&selector) && line.to_lowercase().contains(&address))
            .unwrap_or_else(|| {
                panic!("no table row for {function:?} with {selector} at {address}")
            });
        let name = function.signature().split('(').next().unwrap();
        assert!(row.contains(&format!("`{name}(")), "{row}");
    }
}

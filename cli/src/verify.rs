//! `thresig verify`: one signature from flags, or a batch of JSON lines.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Deserialize;
use serde_json::json;
use thresig_precompiles::{Scheme, VerifyRequest};

use crate::{hex_arg, is_stdin, malformed};

/// Arguments of `thresig verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Scheme: bip340, ed25519, ecdsa-secp256k1 (message = the 32-byte hash; signature r‖s or
    /// r‖s‖v), ml-dsa-44|65|87, slh-dsa-{sha2,shake}-{128,192,256}{s,f}.
    #[arg(long, required_unless_present = "batch", conflicts_with = "batch")]
    scheme: Option<String>,
    /// The public key, hex.
    #[arg(long, required_unless_present = "batch", conflicts_with = "batch")]
    public_key: Option<String>,
    /// The message, hex (for ecdsa-secp256k1 the 32-byte hash that was signed).
    #[arg(long, required_unless_present = "batch", conflicts_with = "batch")]
    message: Option<String>,
    /// The signature, hex.
    #[arg(long, required_unless_present = "batch", conflicts_with = "batch")]
    signature: Option<String>,
    /// The FIPS 204/205 context string, hex (ML-DSA and SLH-DSA only; default empty).
    #[arg(long, conflicts_with = "batch")]
    context: Option<String>,
    /// Verify with the FIPS 204/205 internal interface (message = M'), as ACVP vectors need.
    #[arg(long, conflicts_with = "batch")]
    internal: bool,
    /// Verify every JSON line of FILE (`-` for stdin): keys scheme, public_key, message,
    /// signature, optional context and internal. Prints one JSON line per input line (blank
    /// and malformed lines get an error line).
    #[arg(long, value_name = "FILE")]
    batch: Option<PathBuf>,
}

/// One line of a batch file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchLine {
    scheme: String,
    public_key: String,
    message: String,
    signature: String,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    internal: bool,
}

/// Runs `thresig verify`.
pub fn run(args: VerifyArgs) -> ExitCode {
    if let Some(path) = args.batch {
        return run_batch(&path);
    }
    let line = BatchLine {
        scheme: args.scheme.unwrap_or_default(),
        public_key: args.public_key.unwrap_or_default(),
        message: args.message.unwrap_or_default(),
        signature: args.signature.unwrap_or_default(),
        context: args.context,
        internal: args.internal,
    };
    match verify_line(&line) {
        Ok(true) => {
            println!("valid");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("invalid");
            ExitCode::from(1)
        }
        Err(reason) => malformed(reason),
    }
}

fn verify_line(line: &BatchLine) -> Result<bool, String> {
    let scheme: Scheme = line
        .scheme
        .parse()
        .map_err(|error| format!("scheme: {error}"))?;
    let public_key = hex_arg::decode("public key", &line.public_key)?;
    let message = hex_arg::decode("message", &line.message)?;
    let signature = hex_arg::decode("signature", &line.signature)?;
    let context = line
        .context
        .as_deref()
        .map(|text| hex_arg::decode("context", text))
        .transpose()?;
    let request = VerifyRequest {
        scheme,
        public_key: &public_key,
        message: &message,
        signature: &signature,
        context: context.as_deref(),
        internal: line.internal,
    };
    thresig_precompiles::verify(&request).map_err(|error| error.to_string())
}

fn run_batch(path: &std::path::Path) -> ExitCode {
    let reader: Box<dyn BufRead> = if is_stdin(path) {
        Box::new(BufReader::new(io::stdin().lock()))
    } else {
        match File::open(path) {
            Ok(file) => Box::new(BufReader::new(file)),
            Err(error) => return malformed(format!("cannot open {}: {error}", path.display())),
        }
    };
    let mut out = BufWriter::new(io::stdout().lock());
    for (index, line) in reader.split(b'\n').enumerate() {
        let line = match line {
            Ok(line) => line,
            Err(error) => {
                let _ = out.flush();
                return malformed(format!("reading line {}: {error}", index + 1));
            }
        };
        // Every line gets an answer, blank ones included, so answer N is always input line N.
        let answer = if line.iter().all(u8::is_ascii_whitespace) {
            json!({ "error": format!("line {}: empty line", index + 1) })
        } else {
            match serde_json::from_slice::<BatchLine>(&line) {
                Ok(parsed) => match verify_line(&parsed) {
                    Ok(valid) => json!({ "valid": valid }),
                    Err(reason) => json!({ "error": reason }),
                },
                Err(error) => {
                    json!({ "error": format!("line {}: not a verification request: {error}", index + 1) })
                }
            }
        };
        if writeln!(out, "{answer}").is_err() {
            // stdout closed (e.g. piped into `head`): nothing more can be reported.
            return ExitCode::SUCCESS;
        }
    }
    // A closed stdout at the end loses nothing more than it already did.
    let _ = out.flush();
    ExitCode::SUCCESS
}

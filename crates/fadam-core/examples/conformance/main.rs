//! Conformance runner: `cargo run --release -p fadam-core --example
//! conformance -- DIR` runs every case of `DIR/manifest.json` (the format of
//! `tests/golden/README.md`) through fadam-core, prints a line per case and a
//! summary, and exits non-zero if any case fails.

mod golden;

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: conformance DIR   (DIR holds manifest.json and the .bin files)");
        return ExitCode::from(2);
    };
    let outcomes = match golden::run_dir(std::path::Path::new(&dir)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut failed = 0;
    for o in &outcomes {
        let verdict = if o.failure.is_some() { "FAIL" } else { "PASS" };
        print!(
            "{verdict} {:<32} max_abs={:.3e} max_rel={:.3e}",
            o.name, o.max_abs, o.max_rel
        );
        match &o.failure {
            Some(why) => {
                failed += 1;
                println!("  ({why})");
            }
            None => println!(),
        }
    }
    println!("{} passed, {failed} failed", outcomes.len() - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

//! Runs the binary: a tiny quick run whose losses must fall, and the
//! one-line errors.

use std::process::Command;

const TASKS: [&str; 4] = ["shakespeare", "transformer", "digits", "vqvae"];

fn lab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fadam-lab"))
}

#[test]
fn quick_run_losses_fall_and_outputs_are_written() {
    let out = std::env::temp_dir().join(format!("fadam-lab-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    // Few steps keep the test short in debug builds; the check is the same
    // as CI's `--quick`: every optimizer's held-out loss falls.
    let output = lab()
        .args(["--quick", "--steps", "30", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("quick check passed"), "{stdout}");
    for task in TASKS {
        for optimizer in ["FAdam (paper)", "FAdam", "AdamW", "AdamW (burn)"] {
            assert!(
                stdout.contains(&format!("| {task} | {optimizer} |")),
                "{stdout}"
            );
        }
        let len = std::fs::metadata(out.join(format!("curves-{task}.png")))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 0, "curves-{task}.png missing or empty");
    }
    for file in ["runs.csv", "curves.csv", "summary.csv", "summary.md"] {
        let len = std::fs::metadata(out.join(file))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 0, "{file} missing or empty");
    }
    let runs = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    // A header and 4 runs (3 swept optimizers at 1 lr and 1 λ, then
    // burn's AdamW) per task.
    assert_eq!(runs.lines().count(), 1 + TASKS.len() * 4, "{runs}");
    let _ = std::fs::remove_dir_all(&out);
}

fn fails_with(args: &[&str], needle: &str) {
    let output = lab().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

#[test]
fn bad_options_are_one_line_errors() {
    fails_with(&["--task", "mnist"], "unknown task 'mnist'");
    fails_with(&["--backend", "cuda"], "unknown backend 'cuda'");
    fails_with(
        &["--steps", "many"],
        "--steps wants a positive whole number",
    );
    fails_with(&["--what"], "unknown option '--what'");
}

#[test]
fn unwritable_output_folder_is_a_one_line_error() {
    // A regular file cannot be a folder, even for root.
    let file = std::env::temp_dir().join(format!("fadam-lab-file-{}", std::process::id()));
    std::fs::write(&file, b"x").unwrap();
    let out = file.join("out");
    fails_with(
        &["--quick", "--out", out.to_str().unwrap()],
        "cannot create output folder",
    );
    let _ = std::fs::remove_file(&file);
}

#[test]
fn help_prints_usage() {
    let output = lab().arg("--help").output().unwrap();
    assert!(output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("--task <shakespeare|transformer|digits|vqvae|all>")
    );
}

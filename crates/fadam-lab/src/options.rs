//! Command-line options (clap's derive API), with one-line errors.

use std::path::PathBuf;

use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};

/// Which task(s) to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskChoice {
    /// Next-character prediction on Shakespeare.
    Shakespeare,
    /// UCI digits classification.
    Digits,
    /// Both.
    All,
}

/// The burn backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// burn's pure-Rust CPU backend.
    Flex,
    /// burn's wgpu backend (only with the `wgpu` cargo feature).
    #[cfg_attr(not(feature = "wgpu"), allow(dead_code))]
    Wgpu,
}

/// Everything the command line says. An option's value is the next
/// argument whatever it looks like (`--lrs -1` is a bad rate, not an option).
#[derive(Parser, Clone, Debug, PartialEq)]
#[command(
    name = "fadam-lab",
    about = "fadam-lab: compares FAdam, Adam and AdamW on Shakespeare characters and UCI digits"
)]
pub(crate) struct Options {
    /// which task to run
    #[arg(long, allow_hyphen_values = true, value_name = "shakespeare|digits|all", default_value = "all", value_parser = task)]
    pub(crate) task: TaskChoice,
    /// optimizer steps per run (default: 4000 shakespeare, 1000 digits; --quick: 300, 150)
    #[arg(long, allow_hyphen_values = true, value_name = "N", value_parser = |v: &str| positive("--steps", v))]
    pub(crate) steps: Option<usize>,
    /// seeds per learning rate (default: 3 shakespeare, 5 digits; --quick: 1)
    #[arg(long, allow_hyphen_values = true, value_name = "N", value_parser = |v: &str| positive("--seeds", v))]
    pub(crate) seeds: Option<usize>,
    /// learning rates to sweep (default: 1e-3,3e-3,1e-2 shakespeare, 3e-4,1e-3,3e-3,1e-2 digits; --quick: 3e-3)
    // The full path keeps clap from reading `Vec` as a repeated option.
    #[arg(long, allow_hyphen_values = true, value_name = "a,b,c", value_parser = learning_rates)]
    pub(crate) lrs: Option<::std::vec::Vec<f64>>,
    /// output folder for CSV files and plots
    #[arg(long, allow_hyphen_values = true, value_name = "DIR", default_value = "fadam-lab-out", value_parser = folder)]
    pub(crate) out: PathBuf,
    /// smoke run (1 seed, 1 lr, few steps); exits 1 if a loss did not fall
    #[arg(long)]
    pub(crate) quick: bool,
    /// burn backend (wgpu needs the `wgpu` cargo feature)
    #[arg(long, allow_hyphen_values = true, value_name = "flex|wgpu", default_value = "flex", value_parser = backend)]
    pub(crate) backend: Backend,
}

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A run with these options.
    Run(Options),
    /// `--help`: print this.
    Help(String),
}

/// Parses the arguments (without the program name). The error is one line
/// that says what is wrong and how to fix it.
pub(crate) fn parse<I>(args: I) -> Result<Parsed, String>
where
    I: IntoIterator<Item = String>,
{
    let args = std::iter::once("fadam-lab".to_string()).chain(args);
    match Options::try_parse_from(args) {
        Ok(options) => Ok(Parsed::Run(options)),
        Err(e) if e.kind() == ErrorKind::DisplayHelp => Ok(Parsed::Help(e.render().to_string())),
        Err(e) => Err(one_line(&e)),
    }
}

/// clap's error as one line: our parsers' own messages as they are, the
/// rest in the words of the hand-written parser this replaced.
fn one_line(e: &clap::Error) -> String {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.as_str(),
        _ => "",
    };
    let arg = context(ContextKind::InvalidArg);
    let name = arg.split_whitespace().next().unwrap_or(arg);
    match e.kind() {
        ErrorKind::ValueValidation => {
            if let Some(why) = std::error::Error::source(e) {
                return why.to_string();
            }
        }
        ErrorKind::UnknownArgument => {
            return format!("unknown option '{arg}': see fadam-lab --help for the options");
        }
        ErrorKind::InvalidValue if context(ContextKind::InvalidValue).is_empty() => {
            return format!("{name} needs a value: {arg}");
        }
        _ => {}
    }
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    format!(
        "{}: see fadam-lab --help",
        first.trim_start_matches("error: ")
    )
}

fn task(v: &str) -> Result<TaskChoice, String> {
    match v {
        "shakespeare" => Ok(TaskChoice::Shakespeare),
        "digits" => Ok(TaskChoice::Digits),
        "all" => Ok(TaskChoice::All),
        _ => Err(format!(
            "unknown task '{v}': use --task shakespeare, --task digits or --task all"
        )),
    }
}

fn backend(v: &str) -> Result<Backend, String> {
    match v {
        "flex" => Ok(Backend::Flex),
        "wgpu" => wgpu_backend(),
        _ => Err(format!(
            "unknown backend '{v}': use --backend flex (or --backend wgpu in a build with --features wgpu)"
        )),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_backend() -> Result<Backend, String> {
    Ok(Backend::Wgpu)
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_backend() -> Result<Backend, String> {
    Err("backend 'wgpu' is not in this build: rebuild with `cargo run --release -p fadam-lab --features wgpu -- --backend wgpu`, or use --backend flex".into())
}

fn folder(v: &str) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err("--out needs a value: --out DIR".into());
    }
    Ok(PathBuf::from(v))
}

fn positive(name: &str, v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{name} wants a positive whole number, got '{v}': for example {name} 3"
        )),
    }
}

fn learning_rates(v: &str) -> Result<Vec<f64>, String> {
    let mut lrs = Vec::new();
    for part in v.split(',') {
        match part.trim().parse::<f64>() {
            Ok(lr) if lr.is_finite() && lr > 0.0 => {
                if !lrs.contains(&lr) {
                    lrs.push(lr);
                }
            }
            _ => {
                return Err(format!(
                    "--lrs wants positive numbers separated by commas, got '{v}': for example --lrs 1e-3,3e-3,1e-2"
                ));
            }
        }
    }
    Ok(lrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Options, String> {
        match parse(s.split_whitespace().map(String::from))? {
            Parsed::Run(options) => Ok(options),
            Parsed::Help(_) => Err("help".into()),
        }
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        let o = args("").unwrap();
        assert_eq!(o.task, TaskChoice::All);
        assert_eq!((o.steps, o.seeds, o.lrs), (None, None, None));
        assert_eq!(o.out, PathBuf::from("fadam-lab-out"));
        assert!(!o.quick);
        assert_eq!(o.backend, Backend::Flex);
    }

    #[test]
    fn every_option_is_read() {
        let o = args(
            "--task digits --steps 50 --seeds 2 --lrs 1e-3,0.01 --out x --quick --backend flex",
        )
        .unwrap();
        assert_eq!(o.task, TaskChoice::Digits);
        assert_eq!(o.steps, Some(50));
        assert_eq!(o.seeds, Some(2));
        assert_eq!(o.lrs, Some(vec![1e-3, 0.01]));
        assert_eq!(o.out, PathBuf::from("x"));
        assert!(o.quick);
        assert_eq!(o.backend, Backend::Flex);
    }

    #[test]
    fn equals_form_works() {
        let o = args("--task=shakespeare --steps=7").unwrap();
        assert_eq!(o.task, TaskChoice::Shakespeare);
        assert_eq!(o.steps, Some(7));
    }

    #[test]
    fn help_is_the_usage() {
        let Ok(Parsed::Help(text)) = parse(["--help".to_string()]) else {
            panic!("--help must ask for the usage")
        };
        for flag in [
            "--task <shakespeare|digits|all>",
            "--steps <N>",
            "--seeds <N>",
            "--lrs <a,b,c>",
            "--out <DIR>",
            "--quick",
            "--backend <flex|wgpu>",
        ] {
            assert!(text.contains(flag), "{flag}: {text}");
        }
    }

    #[test]
    fn bad_input_is_one_clear_line() {
        for (input, needle) in [
            ("--task mnist", "unknown task 'mnist'"),
            ("--backend cuda", "unknown backend 'cuda'"),
            ("--steps 0", "--steps wants a positive whole number"),
            ("--steps ten", "--steps wants a positive whole number"),
            ("--seeds", "--seeds needs a value"),
            ("--lrs 1e-3,,2", "--lrs wants positive numbers"),
            ("--lrs -1", "--lrs wants positive numbers"),
            ("--steps -3", "--steps wants a positive whole number"),
            ("--frobnicate", "unknown option '--frobnicate'"),
            ("--quick=yes", "--quick"),
            ("stray", "see fadam-lab --help"),
        ] {
            let error = args(input).unwrap_err();
            assert!(error.contains(needle), "{input}: {error}");
            assert!(!error.contains('\n'), "{input}: {error}");
        }
    }

    #[cfg(not(feature = "wgpu"))]
    #[test]
    fn wgpu_needs_the_feature() {
        let error = args("--backend wgpu").unwrap_err();
        assert!(error.contains("--features wgpu"), "{error}");
    }
}

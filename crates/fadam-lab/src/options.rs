//! Command-line options (clap's derive API), with one-line errors.

use std::path::PathBuf;

use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};

/// Which task(s) to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskChoice {
    /// Next-character prediction on Shakespeare with an MLP.
    Shakespeare,
    /// Language modelling on Shakespeare with a transformer.
    Transformer,
    /// UCI digits classification.
    Digits,
    /// A VQ-VAE on the digits.
    Vqvae,
    /// Every task.
    All,
}

impl TaskChoice {
    /// Whether `task` is to run.
    pub(crate) fn runs(self, task: Self) -> bool {
        self == task || self == Self::All
    }
}

/// How big a run is: a smoke test, the main job, or the full study.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Quick,
    Default,
    Full,
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
    about = "fadam-lab: compares FAdam, Adam and AdamW on Shakespeare (MLP and transformer) and UCI digits (MLP and VQ-VAE)"
)]
pub(crate) struct Options {
    /// which task to run
    #[arg(long, allow_hyphen_values = true, value_name = "shakespeare|transformer|digits|vqvae|all", default_value = "all", value_parser = task)]
    pub(crate) task: TaskChoice,
    /// optimizer steps per run (default: each task's, see the output)
    #[arg(long, allow_hyphen_values = true, value_name = "N", value_parser = |v: &str| positive("--steps", v))]
    pub(crate) steps: Option<usize>,
    /// seeds per setting (default: each task's; --quick: 1)
    #[arg(long, allow_hyphen_values = true, value_name = "N", value_parser = |v: &str| positive("--seeds", v))]
    pub(crate) seeds: Option<usize>,
    /// peak learning rates to sweep (default: each task's; --quick: 3e-3)
    // The full path keeps clap from reading `Vec` as a repeated option.
    #[arg(long, allow_hyphen_values = true, value_name = "a,b,c", value_parser = learning_rates)]
    pub(crate) lrs: Option<::std::vec::Vec<f64>>,
    /// weight decays λ to sweep for FAdam and AdamW (default: 0,0.01,0.1; --quick: 0.01)
    #[arg(long, allow_hyphen_values = true, value_name = "a,b,c", value_parser = lambdas)]
    pub(crate) lambdas: Option<::std::vec::Vec<f64>>,
    /// output folder for CSV files and plots
    #[arg(long, allow_hyphen_values = true, value_name = "DIR", default_value = "fadam-lab-out", value_parser = folder)]
    pub(crate) out: PathBuf,
    /// smoke run (1 seed, 1 lr, 1 λ, few steps); exits 1 if a loss did not fall
    #[arg(long, conflicts_with = "full")]
    pub(crate) quick: bool,
    /// the full study: more steps, seeds and learning rates (about 30 minutes)
    #[arg(long)]
    pub(crate) full: bool,
    /// burn backend (wgpu needs the `wgpu` cargo feature)
    #[arg(long, allow_hyphen_values = true, value_name = "flex|wgpu", default_value = "flex", value_parser = backend)]
    pub(crate) backend: Backend,
}

impl Options {
    /// The size of the run.
    pub(crate) fn mode(&self) -> Mode {
        if self.quick {
            Mode::Quick
        } else if self.full {
            Mode::Full
        } else {
            Mode::Default
        }
    }
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
        "transformer" => Ok(TaskChoice::Transformer),
        "digits" => Ok(TaskChoice::Digits),
        "vqvae" => Ok(TaskChoice::Vqvae),
        "all" => Ok(TaskChoice::All),
        _ => Err(format!(
            "unknown task '{v}': use --task shakespeare, transformer, digits, vqvae or all"
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

/// Distinct finite numbers, separated by commas, each accepted by `ok`.
fn numbers(v: &str, ok: fn(f64) -> bool, error: impl Fn() -> String) -> Result<Vec<f64>, String> {
    let mut values = Vec::new();
    for part in v.split(',') {
        match part.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && ok(x) => {
                if !values.contains(&x) {
                    values.push(x);
                }
            }
            _ => return Err(error()),
        }
    }
    Ok(values)
}

fn learning_rates(v: &str) -> Result<Vec<f64>, String> {
    numbers(
        v,
        |lr| lr > 0.0,
        || {
            format!(
                "--lrs wants positive numbers separated by commas, got '{v}': for example --lrs 1e-3,3e-3,1e-2"
            )
        },
    )
}

fn lambdas(v: &str) -> Result<Vec<f64>, String> {
    numbers(
        v,
        |l| l >= 0.0,
        || {
            format!(
                "--lambdas wants numbers of at least 0 separated by commas, got '{v}': for example --lambdas 0,0.01,0.1"
            )
        },
    )
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
        assert_eq!(o.mode(), Mode::Default);
        assert_eq!(
            (o.steps, o.seeds, o.lrs, o.lambdas),
            (None, None, None, None)
        );
        assert_eq!(o.out, PathBuf::from("fadam-lab-out"));
        assert!(!o.quick);
        assert_eq!(o.backend, Backend::Flex);
    }

    #[test]
    fn every_option_is_read() {
        let o = args(
            "--task vqvae --steps 50 --seeds 2 --lrs 1e-3,0.01 --lambdas 0,0.1,0 --out x --quick --backend flex",
        )
        .unwrap();
        assert_eq!(o.lambdas, Some(vec![0.0, 0.1]));
        assert_eq!(o.mode(), Mode::Quick);
        assert_eq!(args("--full").unwrap().mode(), Mode::Full);
        assert!(TaskChoice::All.runs(TaskChoice::Transformer));
        assert!(!TaskChoice::Digits.runs(TaskChoice::Vqvae));
        assert_eq!(o.task, TaskChoice::Vqvae);
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
            "--task <shakespeare|transformer|digits|vqvae|all>",
            "--lambdas <a,b,c>",
            "--full",
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
            ("--lambdas 0,-1", "--lambdas wants numbers of at least 0"),
            ("--lambdas nan", "--lambdas wants numbers"),
            ("--quick --full", "cannot be used with"),
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

//! Command-line options, parsed by hand (no dependency).

use std::path::PathBuf;

/// The usage text of `--help`.
pub(crate) const USAGE: &str = "\
fadam-lab: compares FAdam, Adam and AdamW on Shakespeare characters and UCI digits

usage: fadam-lab [options]

options:
  --task shakespeare|digits|all   which task to run (default: all)
  --steps N                       optimizer steps per run (default: 4000 shakespeare, 1000 digits; --quick: 300, 150)
  --seeds N                       seeds per learning rate (default: 3 shakespeare, 5 digits; --quick: 1)
  --lrs a,b,c                     learning rates to sweep (default: 1e-3,3e-3,1e-2 shakespeare,
                                  3e-4,1e-3,3e-3,1e-2 digits; --quick: 3e-3)
  --out DIR                       output folder for CSV files and plots (default: fadam-lab-out)
  --quick                         smoke run (1 seed, 1 lr, few steps); exits 1 if a loss did not fall
  --backend flex|wgpu             burn backend (default: flex; wgpu needs the `wgpu` cargo feature)
  -h, --help                      print this help
";

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

/// Everything the command line says.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Options {
    pub(crate) task: TaskChoice,
    /// `None`: each task's default.
    pub(crate) steps: Option<usize>,
    /// `None`: each task's default, or 1 with `--quick`.
    pub(crate) seeds: Option<usize>,
    /// `None`: the default sweep, or one value with `--quick`.
    pub(crate) lrs: Option<Vec<f64>>,
    pub(crate) out: PathBuf,
    pub(crate) quick: bool,
    pub(crate) backend: Backend,
    pub(crate) help: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            task: TaskChoice::All,
            steps: None,
            seeds: None,
            lrs: None,
            out: PathBuf::from("fadam-lab-out"),
            quick: false,
            backend: Backend::Flex,
            help: false,
        }
    }
}

/// Parses the arguments (without the program name). The error is one line
/// that says what is wrong and how to fix it.
pub(crate) fn parse<I>(args: I) -> Result<Options, String>
where
    I: IntoIterator<Item = String>,
{
    let mut options = Options::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // `--name=value` or `--name value`.
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match inline.clone().or_else(|| args.next()) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(format!("{name} needs a value: {name} {what}")),
            }
        };
        match name.as_str() {
            "-h" | "--help" => options.help = true,
            "--quick" => {
                if inline.is_some() {
                    return Err("--quick takes no value: write --quick alone".into());
                }
                options.quick = true;
            }
            "--task" => {
                let v = value("shakespeare|digits|all")?;
                options.task = match v.as_str() {
                    "shakespeare" => TaskChoice::Shakespeare,
                    "digits" => TaskChoice::Digits,
                    "all" => TaskChoice::All,
                    _ => {
                        return Err(format!(
                            "unknown task '{v}': use --task shakespeare, --task digits or --task all"
                        ));
                    }
                };
            }
            "--steps" => options.steps = Some(positive(&name, &value("N")?)?),
            "--seeds" => options.seeds = Some(positive(&name, &value("N")?)?),
            "--lrs" => options.lrs = Some(learning_rates(&value("a,b,c")?)?),
            "--out" => options.out = PathBuf::from(value("DIR")?),
            "--backend" => {
                let v = value("flex|wgpu")?;
                options.backend = match v.as_str() {
                    "flex" => Backend::Flex,
                    "wgpu" => wgpu_backend()?,
                    _ => {
                        return Err(format!(
                            "unknown backend '{v}': use --backend flex (or --backend wgpu in a build with --features wgpu)"
                        ));
                    }
                };
            }
            _ => {
                return Err(format!(
                    "unknown option '{arg}': see fadam-lab --help for the options"
                ));
            }
        }
    }
    Ok(options)
}

#[cfg(feature = "wgpu")]
fn wgpu_backend() -> Result<Backend, String> {
    Ok(Backend::Wgpu)
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_backend() -> Result<Backend, String> {
    Err("backend 'wgpu' is not in this build: rebuild with `cargo run --release -p fadam-lab --features wgpu -- --backend wgpu`, or use --backend flex".into())
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
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        assert_eq!(args("").unwrap(), Options::default());
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
    fn bad_input_is_one_clear_line() {
        for (input, needle) in [
            ("--task mnist", "unknown task 'mnist'"),
            ("--backend cuda", "unknown backend 'cuda'"),
            ("--steps 0", "--steps wants a positive whole number"),
            ("--steps ten", "--steps wants a positive whole number"),
            ("--seeds", "--seeds needs a value"),
            ("--lrs 1e-3,,2", "--lrs wants positive numbers"),
            ("--lrs -1", "--lrs wants positive numbers"),
            ("--frobnicate", "unknown option '--frobnicate'"),
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
